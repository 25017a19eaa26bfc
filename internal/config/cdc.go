package config

// CDC is one change-data-capture source (cdc.<name>): row changes of a
// database become events on the bus.
type CDC struct {
	// Prefix starts every event type: <prefix>.<schema>.<table>. Default "db".
	Prefix string `yaml:"prefix" json:"prefix,omitempty"`
	// Numeric is how exact numbers (numeric, decimal) go into events:
	// "string" (default: no precision lost) or "number".
	Numeric string `yaml:"numeric" json:"numeric,omitempty"`
	// Postgres reads PostgreSQL by logical replication. Exactly one of
	// Postgres and MySQL.
	Postgres *PostgresCDC `yaml:"postgres" json:"postgres,omitempty"`
	// MySQL reads MariaDB or MySQL by the row-based binlog.
	MySQL *MySQLCDC `yaml:"mysql" json:"mysql,omitempty"`
}

// PostgresCDC is a cdc source's PostgreSQL section.
type PostgresCDC struct {
	// DSN is a libpq connection string or URL; weir adds replication=database
	// for the replication connection.
	DSN string `yaml:"dsn" json:"dsn"`
	// Publication and Slot are created if missing. Default "weir_<name>".
	Publication string `yaml:"publication" json:"publication,omitempty"`
	Slot        string `yaml:"slot" json:"slot,omitempty"`
	// Tables are captured, as schema.table (schema defaults to public).
	Tables map[string]*CDCTable `yaml:"tables" json:"tables"`
	// Snapshot is "initial" (default: read the tables first) or "never".
	Snapshot string `yaml:"snapshot" json:"snapshot,omitempty"`
	// Heartbeat is how often an idle source moves the slot on. Default 10s.
	Heartbeat Duration `yaml:"heartbeat" json:"heartbeat,omitempty"`
	// MaxRetainedWAL warns when the slot keeps more WAL than this many bytes.
	// Default 1 GiB.
	MaxRetainedWAL int64 `yaml:"max_retained_wal" json:"max_retained_wal,omitempty"`
	// DDL is how table changes (ALTER, CREATE, DROP TABLE) reach weir:
	// "off" (default: a changed table is seen at its next row change) or
	// "trigger" (an event trigger reports them as they happen; weir's role
	// must be a superuser to create it).
	DDL string `yaml:"ddl" json:"ddl,omitempty"`
}

// MySQLCDC is a cdc source's MariaDB/MySQL section.
type MySQLCDC struct {
	// DSN is user:password@tcp(host:port)/ as go-sql-driver writes it.
	DSN string `yaml:"dsn" json:"dsn"`
	// ServerID is this replica's id, unique among the server's replicas.
	ServerID uint32 `yaml:"server_id" json:"server_id"`
	// Tables are captured, as database.table.
	Tables map[string]*CDCTable `yaml:"tables" json:"tables"`
	// Snapshot is "initial" (default) or "never".
	Snapshot string `yaml:"snapshot" json:"snapshot,omitempty"`
}

// CDCTable is one captured table's settings; an empty entry captures the
// table whole.
type CDCTable struct {
	// Columns narrows what events carry.
	Columns struct {
		// Exclude are columns kept out of every event (sensitive data).
		Exclude []string `yaml:"exclude" json:"exclude,omitempty"`
	} `yaml:"columns" json:"columns,omitzero"`
}
