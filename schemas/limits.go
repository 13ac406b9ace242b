package schemas

// Limits on what one input record may cost to decode (doc.go, "Limits").
// Records over them are dead-lettered, never retried: the same bytes
// would fail the same way after every restart.
const (
	// MaxRecordBytes is the largest input record custream decodes: its
	// value plus its headers (keys and values), in bytes, after the
	// broker's compression is undone. The processor dead-letters a larger
	// record with ErrCodeTooLarge before decoding it. 1 MiB is Kafka's
	// default max.message.bytes; a register of 25,000 e-mails fits.
	MaxRecordBytes = 1 << 20

	// MaxDatumItems bounds the array items and map entries of one Avro
	// datum, all arrays and maps together. A 1 MiB record of real
	// commands holds a few tens of thousands; a datum with more is
	// refused with ErrCodeTooLarge.
	MaxDatumItems = 100_000

	// MaxDepth bounds the nesting of an Avro datum (records, arrays, maps
	// and unions, each a level) and of a JSON body (objects and arrays).
	// Commands are under ten levels deep; deeper input is refused with
	// ErrCodeTooLarge.
	MaxDepth = 64
)
