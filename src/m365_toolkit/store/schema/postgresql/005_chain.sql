-- The tamper-evident chain (store/chain.py): one row per sealed record, in chain order.
-- kind and ref name the record (ref is its seq in events or costs); leaf and link are its
-- SHA-256 hashes; pruned marks a record whose content retention removed (its leaf stays);
-- outcome is the status, end time and duration chained in the record closing a session.
CREATE TABLE chain (
    pos     bigint  PRIMARY KEY,
    kind    text    NOT NULL,
    ref     bigint  NOT NULL,
    leaf    bytea   NOT NULL,
    link    bytea   NOT NULL,
    pruned  boolean NOT NULL DEFAULT false,
    outcome text,
    UNIQUE (kind, ref)
);
-- The store's id (the chain's genesis is bound to it) and the sealed range: every record
-- numbered up to sealed_through was final when it was sealed (writers hold a shared
-- advisory lock from before they take a number until they commit; the sealer takes it
-- exclusively). Existing records are sealed, in sequence order, by the first seal.
CREATE TABLE chain_meta (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    store_id       text    NOT NULL,
    format         integer NOT NULL,
    sealed_through bigint  NOT NULL
);
INSERT INTO chain_meta (store_id, format, sealed_through) VALUES (gen_random_uuid()::text, 1, 0);
