# The managed backing services and the cluster for shop, on AWS: EKS, RDS PostgreSQL, MSK
# (Kafka), OpenSearch, ElastiCache (Redis). The network (VPC, private subnets) is an input:
# most organisations own it elsewhere. Checked statically by checkov in `make test`.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 7"
    }
  }
}
