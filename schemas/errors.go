package schemas

import (
	"errors"
	"fmt"
)

// Stream-level error codes of our own, outside the API's 8000 range
// (DOMAIN.md, "Errors and warnings"). A record that cannot become a
// command goes to customers.dlq with one of these as its error.code header;
// the codes are stable: operators and alerts match on them.
const (
	// ErrCodeUndecodable: the value is not valid JSON or Avro, is
	// truncated, or has a field of the wrong type.
	ErrCodeUndecodable = "undecodable"
	// ErrCodeUnknownSchema: an Avro value written with a schema custream
	// does not know (single-object fingerprint or registry schema id).
	ErrCodeUnknownSchema = "unknown-schema"
	// ErrCodeNoRegistry: a Confluent wire-format value, but no schema
	// registry is configured.
	ErrCodeNoRegistry = "no-registry"
	// ErrCodeUnknownOp: the op is none of register, update,
	// changeIdentifier, subscriptions.
	ErrCodeUnknownOp = "unknown-op"
	// ErrCodeMissingHeader: a JSON record lacks a required header (op;
	// customerId for every op but register).
	ErrCodeMissingHeader = "missing-header"
	// ErrCodeBadHeader: a header has an invalid value (customerId not a
	// positive integer, a header repeated with different values).
	ErrCodeBadHeader = "bad-header"
	// ErrCodeBadKey: the record key is not an org id (a positive decimal
	// integer).
	ErrCodeBadKey = "bad-key"
	// ErrCodeBadRequestID: the requestId is too long for a key of the
	// request table, or has control characters or invalid UTF-8
	// (customer.CheckRequestID). Refused before it becomes a key or is
	// echoed in a result.
	ErrCodeBadRequestID = "bad-request-id"
	// ErrCodeMisrouted: the org does not hash to the partition the record
	// arrived on (decided by the processor, listed here so the DLQ codes
	// live in one place).
	ErrCodeMisrouted = "misrouted"
	// ErrCodeTooLarge: the record is over a decoding limit: more than
	// MaxRecordBytes of value and headers (decided by the processor), or
	// an Avro datum over MaxDatumItems or MaxDepth, or a JSON body nested
	// deeper than MaxDepth. Valid perhaps, but more than custream will
	// spend on one record.
	ErrCodeTooLarge = "too-large"
	// ErrCodeRegistryUnavailable: the schema registry could not be asked.
	// Not the record's fault: the caller should retry (fail the batch),
	// not dead-letter the record.
	ErrCodeRegistryUnavailable = "registry-unavailable"
	// ErrCodeOutputTooLarge: the command was valid, but one of its outputs
	// (result, merge notice, snapshot or changelog record) would exceed
	// its topic's max.message.bytes. The command changes nothing and is
	// answered with a result of ResultCodeOutputTooLarge; the input record
	// goes to the DLQ with this code.
	ErrCodeOutputTooLarge = "output-too-large"
	// ErrCodeOrgNotAllowed: the command's org is not on its source's
	// allow-list (decided by the processor where the command is applied:
	// a producer may act only for the orgs its source allows).
	ErrCodeOrgNotAllowed = "org-not-allowed"
	// ErrCodeBadSignature: the command's signature header is missing where
	// its source requires one, malformed, by a key the org does not have
	// (any more), or not over this record (schemas/cmdsig; decided by the
	// processor).
	ErrCodeBadSignature = "bad-signature"
	// ErrCodeBadBalance: a points-topic balance decoded but cannot be a
	// balance: no positive customerId, programId or version (nor asOf), a
	// counter that is not a finite number within ±1e15, slab text too long
	// or with control characters (customer.CheckBalance).
	ErrCodeBadBalance = "bad-balance"
)

// ResultCodeOutputTooLarge is the error code of the result that answers a
// command whose outputs cannot be produced (ErrCodeOutputTooLarge). A
// stream-level code of ours, outside the API's 8000 range, so a client
// tells it from a rule violation.
const ResultCodeOutputTooLarge = 9001

// Error is a decoding failure with a stable code for the DLQ. Match it with
// errors.As, or read the code with ErrorCode.
type Error struct {
	Code string // one of the ErrCode constants
	Msg  string // plain language, for error.message
	Err  error  // the underlying cause, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCode is err's DLQ code: the Code of the *Error in its chain, or
// ErrCodeUndecodable for any other error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrCodeUndecodable
}

// Retryable reports whether err is not the record's fault (the registry
// could not be reached): the record must be retried, not dead-lettered.
func Retryable(err error) bool {
	return ErrorCode(err) == ErrCodeRegistryUnavailable
}

func undecodable(cause error, format string, args ...any) *Error {
	return &Error{Code: ErrCodeUndecodable, Msg: fmt.Sprintf(format, args...), Err: cause}
}
