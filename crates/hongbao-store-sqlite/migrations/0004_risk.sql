-- Risk control: users' tags on contacts and groups, daily counters, the velocity window, the devices
-- and addresses users were seen from, and confirmation tokens of large payments.
CREATE TABLE tags (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    target_id  TEXT NOT NULL,
    tag        TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tags_by_owner ON tags (owner_id, created_at, id);

CREATE TABLE daily_usage (
    id       TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    day      INTEGER NOT NULL,
    outgoing INTEGER NOT NULL,
    packets  INTEGER NOT NULL,
    by_tag   TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE velocity (
    id           TEXT PRIMARY KEY,
    action_times TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE sightings (
    id         TEXT PRIMARY KEY,
    devices    TEXT NOT NULL,
    addresses  TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE confirmations (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) WITHOUT ROWID;
