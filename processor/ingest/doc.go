// Package ingest loads customer files into custream: it parses CSV and
// JSONL files into commands, gives every line a request id derived from the
// file's content, produces the commands to a source topic, collects their
// results from the results topic, and writes a reject report and a summary.
// It loads files of balances from the loyalty engine to the points topic
// the same way (Config.Points, see "Balances" below). It also generates
// realistic sample files (Generate) in the same formats.
//
// # Request ids
//
// Line n of a file whose SHA-256 starts with the 12 hex digits h, loaded
// into source S (and account A, when --account is given), has the request
// id "load-s-h-n" ("load-s.A-h-n"), s being S in lower case, e.g.
// load-instore-5dbddcb28642-22. Loading the same bytes into the same place
// again therefore sends the same request ids, and the processor answers
// each with its first result (marked with the header custream.duplicate:
// true) instead of applying it twice. Changing one byte of the file changes
// every request id: a fixed file is a new load. The source is part of the
// id because the processor remembers request ids per org, not per source:
// the same file loaded into another source is new commands (joins), not
// repeats.
//
// # CSV
//
// The first row is the header; column names are matched case-insensitively,
// except the suffix after "ext." and "field.", which is kept as written.
// Empty cells are absent values. Line numbers count physical lines from 1
// (the header), so a quoted value that spans lines moves the next rows'
// numbers on, as an editor shows them. A UTF-8 byte order mark is ignored.
//
//	op               register (default), update, changeIdentifier or
//	                 subscriptions
//	customerId       the customer of update, changeIdentifier and
//	                 subscriptions
//	accountId        the source account (overrides --account for the row)
//	firstName        profiles[0].firstName
//	lastName         profiles[0].lastName
//	mobile, email, externalId, wechat, martjackId, fbId
//	                 profiles[0].identifiers; a column may repeat to give
//	                 several identifiers of one type
//	channel.email, channel.mobile, channel.wechat
//	                 profiles[0].commChannels, primary
//	channel.<type>.verified
//	                 true/false: the verified flag of that channel
//	loyaltyType      loyaltyInfo.loyaltyType (loyalty, non_loyalty)
//	createDate       attributionV2.createDate (RFC 3339)
//	ext.<name>       extendedFields.<name>
//	field.<name>     profiles[0].fields.<name> (custom fields)
//	add.<type>       changeIdentifier add, e.g. add.mobile
//	remove.<type>    changeIdentifier remove, e.g. remove.email
//	sub.<channel>.<priority>[.<accountId>]
//	                 subscriptions: OPTIN or OPTOUT for channel SMS, EMAIL
//	                 or WECHAT and priority TRANS or BULK, e.g.
//	                 sub.sms.bulk; the optional suffix is the
//	                 subscription's accountId (sub.sms.trans.123)
//	communicationId, campaignId, reason, scope, subScope
//	                 the rest of a subscriptions body
//
// An unknown column stops the load before anything is sent (a misspelt
// column would otherwise drop its data silently), and so does a header with
// neither an identifier column nor customerId (no row could be a valid
// command). A row is a bad line when it has a different number of cells
// than the header, broken quoting, an unknown op, a missing or non-numeric
// customerId where the op needs one, or cells that do not apply to its op
// (identifier or name cells on a changeIdentifier or subscriptions row,
// add./remove. cells on a register or update row, sub. cells on any row but
// subscriptions), or a subscriptions row without a sub. cell.
//
// # JSONL
//
// One JSON object per line: the API doc's request body of the op, with the
// optional keys "op" (default register), "customerId" and "accountId"
// beside the body's own keys. Whitespace-only lines are not records and are
// skipped; anything else that does not decode is a bad line.
//
// Bad lines are never skipped silently: they are counted in the summary and
// listed in the reject report with the code "bad-line".
//
// # Balances
//
// A balance file (ParseBalances) holds one balance a row, with the names
// of the points topic's JSON form (schemas.BalanceFields: customerId,
// programId, version or asOf, the counters, the slab) plus org, the row's
// org (default Config.Org). CSV: a header row of those names, matched
// case-insensitively, empty cells absent; an unknown or repeated column, or
// a header without customerId, programId, version or asOf (or org, without
// a default), stops the load before anything is sent. JSONL: one
// points-topic JSON value a line, names exact; an unknown key makes the
// line a bad line, where the processor would ignore it (a misspelt counter
// would load as 0). Every row is decoded by schemas.DecodeBalance, which
// checks it with customer.CheckBalance, so the loader refuses exactly what
// the processor would dead-letter. Good rows go out in the canonical JSON
// form (schemas.EncodeBalanceJSON) keyed by their org.
//
// A balance's request id is its row's requestId, else
// schemas.BalanceRequestID: points-<customerId>-<programId>-<version>. It
// names the figure, not the file, so loading the file again (or another
// file with the same figures) applies nothing twice, and a figure refused
// once (8009, 8089, 8908) is refused again while the processor remembers
// the id: the engine's next, newer version is a new request. A row with the
// request id of an earlier row of the same org is a bad line, not sent:
// the processor would only answer it with the earlier row's result.
// Results are matched by org, request id and op, so the loader keeps each
// sent row's request id (about 85 bytes a row) until the end; a customers
// load keeps two bits a line.
package ingest
