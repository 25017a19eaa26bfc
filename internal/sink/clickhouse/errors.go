package clickhouse

import (
	"errors"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/weir-dev/weir/internal/sink"
)

// refusedCodes are the server's exception codes that mean a value in the
// batch was bad: the same rows fail the same way however often they are
// sent, and splitting the batch isolates them. Codes about the query or the
// table (an unknown column, a syntax error) are not here: every row would
// fail alike, so splitting would turn a whole batch into dead letters.
var refusedCodes = map[int32]string{
	6:   "CANNOT_PARSE_TEXT",
	25:  "CANNOT_PARSE_ESCAPE_SEQUENCE",
	26:  "CANNOT_PARSE_QUOTED_STRING",
	27:  "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
	32:  "ATTEMPT_TO_READ_AFTER_EOF", // a server-side parse of a too short value, e.g. toUInt64('')
	38:  "CANNOT_PARSE_DATE",
	41:  "CANNOT_PARSE_DATETIME",
	53:  "TYPE_MISMATCH",
	69:  "ARGUMENT_OUT_OF_BOUND",
	70:  "CANNOT_CONVERT_TYPE",
	72:  "CANNOT_PARSE_NUMBER",
	117: "INCORRECT_DATA",
	128: "TOO_LARGE_ARRAY_SIZE",
	131: "TOO_LARGE_STRING_SIZE", // e.g. a value longer than a FixedString(N)
	321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
	349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
	395: "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO", // throwIf in a column's expression
	407: "DECIMAL_OVERFLOW",
	469: "VIOLATED_CONSTRAINT", // CHECK constraints of newer servers
}

// staleCodes mean a table or column weir created is gone; the next Write
// checks the tables again before it inserts.
var staleCodes = map[int32]bool{
	16: true, // NO_SUCH_COLUMN_IN_TABLE
	47: true, // UNKNOWN_IDENTIFIER
	60: true, // UNKNOWN_TABLE
	81: true, // UNKNOWN_DATABASE
}

// classify turns an insert's error into the sink contract's terms: a
// *sink.RefusedError when the server refused the content, else the error
// itself (transient: connection refused, timeout, server busy or gone).
func (s *Sink) classify(table string, err error) error {
	if err == nil {
		return nil
	}
	var ex *proto.Exception
	if errors.As(err, &ex) {
		if _, ok := refusedCodes[ex.Code]; ok {
			return &sink.RefusedError{Reason: ex.Message, Err: err}
		}
		if staleCodes[ex.Code] {
			s.stale.Store(true)
		}
	}
	return fmt.Errorf("clickhouse: insert into %s: %w", s.qualified(table), err)
}
