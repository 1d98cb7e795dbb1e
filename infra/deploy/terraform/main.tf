data "aws_caller_identity" "current" {}

# One customer-managed key encrypts every service at rest (AES-256) and the cluster's secrets.
resource "aws_kms_key" "shop" {
  description         = "${var.name}: data at rest"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

# The services accept connections from inside the VPC only, on their own port.
resource "aws_security_group" "services" {
  name        = "${var.name}-services"
  description = "shop backing services: reachable from the cluster's nodes only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "services" {
  for_each = {
    postgres = 5432, kafka = 9096, opensearch = 443, redis = 6379
  }
  security_group_id            = aws_security_group.services.id
  description                  = "${each.key} from the cluster"
  referenced_security_group_id = aws_eks_cluster.shop.vpc_config[0].cluster_security_group_id
  from_port                    = each.value
  to_port                      = each.value
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "services" {
  security_group_id = aws_security_group.services.id
  description       = "answers within the services range"
  cidr_ipv4         = var.services_cidr
  ip_protocol       = "tcp"
  from_port         = 0
  to_port           = 65535
}
