// Package schemas owns every byte custream puts on or takes off the wire:
// the Avro schemas (command.avsc, result.avsc, merge.avsc, snapshot.avsc,
// embedded), their codecs, and the JSON forms. docs/wire.md is the
// contract for producers and consumers; this package implements it.
//
// Input commands arrive in one of three encodings, told apart by Detect:
//
//   - Avro single-object encoding (C3 01, 8-byte little-endian CRC-64-AVRO
//     fingerprint of command.avsc's canonical form, Avro binary):
//     DecodeCommand / EncodeCommand.
//   - Confluent wire format (00, 4-byte big-endian registry schema id, Avro
//     binary), when a schema registry is configured: Confluent, over a
//     Registry (NewSRRegistry adapts franz-go's sr.Client).
//   - JSON: the API doc's request body unchanged, the request line's
//     parameters in headers: DecodeJSONCommand (ParseHeaders +
//     DecodeJSONBody) / EncodeJSONCommand (EncodeJSONBody + the headers),
//     this package owning both directions: the domain's types carry no
//     json tags for it.
//
// Decode dispatches between them. Every decoding error is an *Error whose
// Code (ErrCode… constants, ErrorCode) is the DLQ's error.code; Retryable
// tells the one failure that is not the record's fault (registry down).
//
// Outputs are Avro single-object by default (EncodeResult, EncodeMerge,
// EncodeSnapshot) or JSON (EncodeResultJSON, EncodeMergeJSON; a JSON
// snapshot is customer.Snapshot marshalled), or the Confluent wire format:
// the single-object bytes reframed (ToConfluent) under the ids
// RegisterOutputs got from the registry, the subjects named by a
// SubjectStrategy (confluentout.go). A result carries the coordinates of
// its input record (ResultRecord.Origin), which the domain does not know.
// A snapshot is the customer's fetch view (source ALL, subscriptions
// embedded) plus org and mergedInto, the same document in JSON and Avro:
// EncodeSnapshot writes it from the stored customer without building the
// view, and DecodeSnapshot reads it back as that document.
//
// The output records and commands written with command.avsc are encoded
// and decoded by hand-written Avro code for our fixed schemas (avroenc.go,
// avrodec.go), held by the tests to goavro's bytes and values; goavro
// still encodes commands, decodes outputs and reads commands written with
// another registry schema. Avro maps are written in key order, so equal
// records encode to equal bytes. JSON bodies are parsed by our own strict
// parser (jsontape.go), held by the tests to encoding/json, and written
// by jsonenc.go, held to the bytes encoding/json wrote before.
//
// # Limits
//
// Every record has a bounded decoding cost, allocation in proportion to
// its bytes (budget_test.go measures it: at most 32 bytes a byte for our
// Avro decoder, 48 for JSON, 64 for goavro, plus 64 KiB). Over a limit, a
// record is dead-lettered, never retried:
//
//   - MaxRecordBytes (1 MiB): value plus headers after decompression; the
//     processor refuses a larger record before decoding (ErrCodeTooLarge).
//   - MaxDatumItems (100,000): array items and map entries of one Avro
//     datum, list elements and map entries of one JSON body
//     (ErrCodeTooLarge). Before anything is allocated for a block of n
//     items, the bytes left must hold n items of the smallest encoding.
//   - MaxDepth (64): nesting of a datum or a body (ErrCodeTooLarge).
//   - Zero-size items: a registry writer schema whose array items or map
//     values can take zero bytes (null, a record of nothing or only
//     nulls, fixed of size 0) is refused (ErrCodeUnknownSchema), as is a
//     datum goavro would spend more than 64 bytes a byte on
//     (ErrCodeTooLarge).
//   - Negative cache: schema ids the registry does not know are asked for
//     again after a minute, unusable schemas after an hour; at most 1024
//     ids are remembered (least recently used out). A registry that cannot
//     be reached is never remembered (ErrCodeRegistryUnavailable: retry).
//
// The codecs are built once at init and are safe for concurrent use.
// Mapping choices shared by all forms but the snapshot (which is the fetch
// view's document, times as strings): empty and absent lists and maps
// decode as nil; zero ids, empty account ids and zero times travel as
// null; decoded times are UTC (the instant is kept; a createDate inside a
// body is a string and keeps its offset).
package schemas
