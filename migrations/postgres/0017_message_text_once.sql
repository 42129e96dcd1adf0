-- A message's text lives in its decision only. Messages used to carry a copy of the
-- decision's subject, body and tracked links (copied when the message was created; decisions
-- are written once and erasure clears both), so every claim and every finish wrote a new
-- version of a row of one to two kilobytes, with its write-ahead log, where the ledger's own
-- columns fill a tenth of that. Delivery reads the text through the decision it already
-- joins for the email's other parts. (Rows written before keep the dropped values on disk
-- until they are next updated or vacuumed; nothing reads them.)
ALTER TABLE messages DROP COLUMN subject, DROP COLUMN body, DROP COLUMN links;
