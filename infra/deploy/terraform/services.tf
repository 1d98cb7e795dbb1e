resource "aws_db_subnet_group" "shop" {
  name       = var.name
  subnet_ids = var.private_subnet_ids
}

# The event store and the Postgres read models: Multi-AZ, encrypted, backed up, TLS only.
resource "aws_db_parameter_group" "shop" {
  name   = "${var.name}-postgres17"
  family = "postgres17"
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
}

resource "aws_db_instance" "shop" {
  identifier                          = var.name
  engine                              = "postgres"
  engine_version                      = "17"
  instance_class                      = "db.m6g.large"
  allocated_storage                   = 100
  max_allocated_storage               = 1000
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.shop.arn
  username                            = "shop"
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = aws_kms_key.shop.arn
  iam_database_authentication_enabled = true
  db_subnet_group_name                = aws_db_subnet_group.shop.name
  vpc_security_group_ids              = [aws_security_group.services.id]
  parameter_group_name                = aws_db_parameter_group.shop.name
  multi_az                            = true
  publicly_accessible                 = false
  backup_retention_period             = 14
  deletion_protection                 = true
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.shop.arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-final"
}

resource "aws_iam_role" "rds_monitoring" {
  name = "${var.name}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "monitoring.rds.amazonaws.com" } }]
  })
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# Kafka: three brokers over three zones, TLS between clients and brokers and among brokers,
# SCRAM logins (the credentials live in Secrets Manager and Vault).
resource "aws_msk_cluster" "shop" {
  cluster_name           = var.name
  kafka_version          = "3.8.x"
  number_of_broker_nodes = 3

  broker_node_group_info {
    instance_type   = "kafka.m7g.large"
    client_subnets  = slice(var.private_subnet_ids, 0, min(3, length(var.private_subnet_ids)))
    security_groups = [aws_security_group.services.id]
    storage_info {
      ebs_storage_info {
        volume_size = 500
      }
    }
    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  client_authentication {
    unauthenticated = false
    sasl {
      scram = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = aws_kms_key.shop.arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.kafka.name
      }
    }
  }
}

resource "aws_cloudwatch_log_group" "kafka" {
  name              = "/shop/${var.name}/kafka"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.shop.arn
}

# The products search index (derived data: rebuilt from the event store if lost).
resource "aws_opensearch_domain" "shop" {
  domain_name    = var.name
  engine_version = "OpenSearch_2.17"

  cluster_config {
    instance_type            = "r6g.large.search"
    instance_count           = 3
    zone_awareness_enabled   = true
    dedicated_master_enabled = true
    dedicated_master_type    = "m6g.large.search"
    dedicated_master_count   = 3
    zone_awareness_config {
      availability_zone_count = min(3, length(var.private_subnet_ids))
    }
  }

  vpc_options {
    subnet_ids         = slice(var.private_subnet_ids, 0, min(3, length(var.private_subnet_ids)))
    security_group_ids = [aws_security_group.services.id]
  }

  ebs_options {
    ebs_enabled = true
    volume_size = 100
  }

  encrypt_at_rest {
    enabled    = true
    kms_key_id = aws_kms_key.shop.arn
  }

  node_to_node_encryption {
    enabled = true
  }

  domain_endpoint_options {
    enforce_https       = true
    tls_security_policy = "Policy-Min-TLS-1-2-2019-07"
  }

  advanced_security_options {
    enabled                        = true
    internal_user_database_enabled = false
    master_user_options {
      master_user_arn = aws_iam_role.cluster.arn
    }
  }

  log_publishing_options {
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.opensearch.arn
    log_type                 = "AUDIT_LOGS"
    enabled                  = true
  }
}

resource "aws_cloudwatch_log_group" "opensearch" {
  name              = "/shop/${var.name}/opensearch"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.shop.arn
}

# Redis: carts, rate limits, recommendations (derived or short-lived); TLS and AUTH.
resource "aws_elasticache_subnet_group" "shop" {
  name       = var.name
  subnet_ids = var.private_subnet_ids
}

resource "aws_elasticache_replication_group" "shop" {
  replication_group_id       = var.name
  description                = "shop: carts, rate limits, recommendations"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = "cache.m6g.large"
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.shop.name
  security_group_ids         = [aws_security_group.services.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.shop.arn
  transit_encryption_enabled = true
  auth_token                 = var.redis_auth_token
  auth_token_update_strategy = "ROTATE"
  snapshot_retention_limit   = 3
  auto_minor_version_upgrade = true
}
