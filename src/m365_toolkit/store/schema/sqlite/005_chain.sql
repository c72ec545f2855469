-- The tamper-evident chain (store/chain.py): one row per sealed record, in chain order.
-- kind and ref name the record (ref is its seq in events or costs); leaf and link are its
-- SHA-256 hashes; pruned marks a record whose content retention removed (its leaf stays);
-- outcome is the status, end time and duration chained in the record closing a session.
CREATE TABLE chain (
    pos     INTEGER PRIMARY KEY,
    kind    TEXT    NOT NULL,
    ref     INTEGER NOT NULL,
    leaf    BLOB    NOT NULL,
    link    BLOB    NOT NULL,
    pruned  INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    UNIQUE (kind, ref)
);
-- The store's id (the chain's genesis is bound to it) and the sealed range: every record
-- numbered up to sealed_through was final when it was sealed. Existing records are sealed,
-- in sequence order, by the first seal after this migration.
CREATE TABLE chain_meta (
    only_row       INTEGER PRIMARY KEY CHECK (only_row = 1),
    store_id       TEXT    NOT NULL,
    format         INTEGER NOT NULL,
    sealed_through INTEGER NOT NULL
);
INSERT INTO chain_meta (only_row, store_id, format, sealed_through) SELECT 1,
    lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
          substr(hex(randomblob(2)), 2) || '-' ||
          substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' ||
          hex(randomblob(6))),
    1, 0;
