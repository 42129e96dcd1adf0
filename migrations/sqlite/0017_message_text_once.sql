-- A message's text lives in its decision only. Messages used to carry a copy of the
-- decision's subject, body and tracked links (copied when the message was created; decisions
-- are written once and erasure clears both), so every claim and every finish rewrote a row
-- of one to two kilobytes: on SQLite a page of the write-ahead log per message, where the
-- ledger's own columns fill a tenth of that. Delivery reads the text through the decision it
-- already joins for the email's other parts.
ALTER TABLE messages DROP COLUMN subject;
ALTER TABLE messages DROP COLUMN body;
ALTER TABLE messages DROP COLUMN links;
