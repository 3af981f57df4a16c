-- sql_schema.sql - the table the SQL processor (PROC-40) writes into,
-- with go-guerrilla's column layout, so existing GG databases keep working.
-- The default insert fills: date to from subject body mail spam_score hash
-- content_type recipient has_attach ip_addr return_path is_tls message_id
-- reply_to sender.  `charset` is GG's GuerrillaDbRedis column (PROC-41):
-- GuerrillaRedisDB writes 'UTF-8' there (and body 'redis', mail '', hash =
-- the Redis key); the SQL processor leaves the default.
--
-- [DEV] utf8mb4 instead of GG's utf8 (3-byte) so any UTF-8 subject fits;
-- the processor cuts strings to 255 bytes and replaces bytes that are not
-- UTF-8 with U+FFFD.  is_tls is TINYINT(1) (GG: BIT(1)); both take 0/1.
--
--   mariadb -u root gmail < processors/sql_schema.sql
CREATE TABLE IF NOT EXISTS `new_mail` (
  `mail_id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `message_id` VARCHAR(255) NOT NULL COMMENT 'Message-Id header, else <hash>.<rcpt user>@<primary_mail_host>',
  `date` DATETIME NOT NULL,
  `from` VARCHAR(255) NOT NULL COMMENT 'MAIL FROM',
  `to` VARCHAR(255) NOT NULL COMMENT 'To header address, else the recipient',
  `reply_to` VARCHAR(255) NOT NULL DEFAULT '',
  `sender` VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'Sender header address',
  `subject` VARCHAR(255) NOT NULL,
  `body` VARCHAR(16) NOT NULL COMMENT '"" plain, "gzip" zlib-compressed, "redis" stored in Redis',
  `mail` LONGBLOB NOT NULL,
  `spam_score` FLOAT NOT NULL DEFAULT 0,
  `hash` VARCHAR(255) NOT NULL,
  `content_type` VARCHAR(255) NOT NULL DEFAULT '',
  `recipient` VARCHAR(255) NOT NULL COMMENT 'RCPT TO',
  `has_attach` INT NOT NULL DEFAULT 0,
  `ip_addr` VARBINARY(16) NOT NULL COMMENT 'client IP, 4 or 16 raw bytes',
  `return_path` VARCHAR(255) NOT NULL COMMENT 'MAIL FROM',
  `is_tls` TINYINT(1) NOT NULL DEFAULT 0,
  `charset` VARCHAR(32) NOT NULL DEFAULT '',
  PRIMARY KEY (`mail_id`),
  KEY `to` (`to`),
  KEY `hash` (`hash`),
  KEY `date` (`date`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
