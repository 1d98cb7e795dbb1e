# What goes into Vault (kv/shop/connections) for the Secret shop-connections; the passwords
# themselves are managed by the services (RDS manages its master password in Secrets Manager).
output "postgres_endpoint" {
  value = aws_db_instance.shop.endpoint
}

output "postgres_master_secret_arn" {
  value = aws_db_instance.shop.master_user_secret[0].secret_arn
}

output "kafka_bootstrap" {
  value = aws_msk_cluster.shop.bootstrap_brokers_sasl_scram
}

output "opensearch_endpoint" {
  value = aws_opensearch_domain.shop.endpoint
}

output "redis_endpoint" {
  value = aws_elasticache_replication_group.shop.primary_endpoint_address
}

output "cluster_name" {
  value = aws_eks_cluster.shop.name
}
