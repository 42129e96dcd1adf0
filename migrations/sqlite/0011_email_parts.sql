-- Emails that look like the business: a decision keeps the parts of its email besides the
-- subject and the Markdown body — the inbox's preheader, the button under the body, and the
-- language its text is written in (the email's lang and the words of its footer).
ALTER TABLE decisions ADD COLUMN preheader TEXT;
ALTER TABLE decisions ADD COLUMN button_text TEXT;
ALTER TABLE decisions ADD COLUMN button_url TEXT;
ALTER TABLE decisions ADD COLUMN language TEXT;
