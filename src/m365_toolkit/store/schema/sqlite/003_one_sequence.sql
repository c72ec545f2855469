-- One store-wide sequence for every record, events and costs alike: the append path
-- numbers each insert (last + 1) and these triggers move the counter on in the same
-- statement. Records keep the numbers they have; new ones continue above the highest
-- ever given, deleted ones included (AUTOINCREMENT kept those in sqlite_sequence).
CREATE TABLE store_sequence (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    last     INTEGER NOT NULL
);
INSERT INTO store_sequence (only_row, last) SELECT 1, max(
    coalesce((SELECT max(seq) FROM sqlite_sequence WHERE name IN ('events', 'costs')), 0),
    coalesce((SELECT max(seq) FROM events), 0),
    coalesce((SELECT max(seq) FROM costs), 0)
);
CREATE TRIGGER events_take_seq AFTER INSERT ON events BEGIN
    UPDATE store_sequence SET last = NEW.seq WHERE last < NEW.seq;
END;
CREATE TRIGGER costs_take_seq AFTER INSERT ON costs BEGIN
    UPDATE store_sequence SET last = NEW.seq WHERE last < NEW.seq;
END;
-- The same column names as the PostgreSQL store (where "user" is a reserved word).
ALTER TABLE sessions RENAME COLUMN user TO user_name;
ALTER TABLE costs RENAME COLUMN user TO user_name;
