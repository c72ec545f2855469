-- One store-wide sequence for every record, events and costs alike, in place of one
-- identity per table. Records keep the numbers they have; new ones continue above the
-- highest either identity ever gave (deleted records included).
CREATE SEQUENCE store_sequence AS bigint;
SELECT setval('store_sequence', greatest(highest, 1), highest > 0) FROM (
    SELECT greatest(
        coalesce((SELECT max(seq) FROM events), 0),
        coalesce((SELECT max(seq) FROM costs), 0),
        coalesce(pg_sequence_last_value(pg_get_serial_sequence('events', 'seq')::regclass), 0),
        coalesce(pg_sequence_last_value(pg_get_serial_sequence('costs', 'seq')::regclass), 0)
    ) AS highest
) AS numbers;
ALTER TABLE events ALTER COLUMN seq DROP IDENTITY;
ALTER TABLE costs ALTER COLUMN seq DROP IDENTITY;
