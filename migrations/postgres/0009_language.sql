-- The language a customer reads (a BCP 47 tag such as hu, sk or en-GB); NULL means
-- [messages] default_language. Messages with translations choose by it.
ALTER TABLE customers ADD COLUMN language TEXT;
