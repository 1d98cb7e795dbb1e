variable "name" {
  description = "Prefix of every resource (also SHOP_NAMESPACE's first choice)."
  type        = string
  default     = "shop"
}

variable "vpc_id" {
  description = "VPC the cluster and the services live in."
  type        = string
}

variable "private_subnet_ids" {
  description = "At least two private subnets in different zones (services and nodes)."
  type        = list(string)
  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "Give at least two private subnets in different availability zones."
  }
}

variable "services_cidr" {
  description = "The range the services' addresses come from; the NetworkPolicies allow it."
  type        = string
  default     = "10.20.0.0/16"
}

variable "kubernetes_version" {
  type    = string
  default = "1.32"
}

variable "api_allowed_cidrs" {
  description = "Who may reach the EKS API endpoint (it is private; this is for the VPN)."
  type        = list(string)
  default     = []
}

variable "kafka_partitions" {
  description = "Must equal SHOP_KAFKA_PARTITIONS in the prod overlay (HPAs stop there)."
  type        = number
  default     = 24
}

variable "redis_auth_token" {
  description = "Redis AUTH token: from Vault (TF_VAR_redis_auth_token), never in a file."
  type        = string
  sensitive   = true
}
