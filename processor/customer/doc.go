// Package customer is custream's domain: the rules of the customer
// registry, free of Kafka, Pebble, Avro and HTTP (cmd/custream's TestImports
// enforces it, with the rest of the package graph).
//
// Commands go in through Apply, which reads and writes state only through
// the Store interface (state/ implements it over a Pebble batch and an
// overlay of the batch's own writes)
// and returns an Outcome: the Result for customers.results, the Merge
// notices for customers.merges and the ids whose snapshot changed
// (Snapshot renders them for customers.snapshots). Rule violations are
// Results with Errors, never Go errors; every check runs before the first
// write, so a refused command changes nothing. Apply is deterministic: time
// comes from Command.Time, ids from Store.NextID, and nothing depends on map
// order. Queries (Lookup, Fetch, Search, LoyaltyDetails, SubscriptionsOf)
// are pure functions over a Reader returning the API doc's response
// shapes. Error and warning codes are the table in codes.go; every limit
// on what a command may carry and a customer may grow to is the table in
// limits.go.
//
// Files follow DOMAIN.md's order: config.go, limits.go (the limits),
// normalise.go and validate.go (normalisation and validation), register.go,
// update.go, changeidentifier.go, subscriptions.go (the commands; apply.go
// dispatches, size.go checks what a written customer may grow to),
// query.go and view.go (the queries and their shapes), response.go (the
// commands' API responses). Commands come in as values: their wire forms
// (the JSON request body, the Avro envelope) are the schemas package's,
// which reads and writes them; the json tags here are the responses'.
//
// # Choices where DOMAIN.md is silent
//
// Scope and input
//   - Source names are matched case-insensitively. An accountId on a
//     single-account source is refused with 8011 rather than ignored (it
//     means the producer believes in an account that does not exist).
//     accountIds are at most 64 characters without control characters
//     (else 8011). With source ALL (reads), accountId is ignored.
//   - The scope of a register or update is the command's (topic and
//     headers); a source or accountId inside a body profile is ignored, as
//     in the API doc's own update sample (URL 22232, body 1234).
//   - Several profiles in one body are combined: the first non-empty
//     names, fields and comm channels merged in order (later wins),
//     identifiers de-duplicated by (type, key).
//   - Every validation problem of a command is reported, not just the
//     first; then, if all is valid, every identifier conflict (8007, 8008,
//     8015) is reported. A result lists at most MaxIssues (20) errors: the
//     first 19, then 8906 counting the rest. A message quotes at most
//     MaxEchoLen (64) characters of a value, marking a cut with "…".
//
// Limits (limits.go has the values and why; none is configurable, so no
// config change can make a replay accept what was refused, or the reverse)
//   - Counts come first, read before any value: profiles per body (10),
//     identifiers per register/update body over all its profiles (20), add
//     and remove of changeIdentifier (20 each), comm channels per body (20),
//     meta flags per channel (8), custom fields per body (50), extended
//     fields (50), subscription entries (50). Each count over is one 8903
//     issue and nothing else of the command is checked, so a register of
//     110,000 e-mails costs a few length reads and gets one small error.
//   - Names (first, last: 128 characters, trimmed), custom and extended
//     field keys (64, not empty) and values (256, may be empty, untrimmed),
//     and meta keys (64) refuse control characters as identifiers do: C0
//     and C1 controls, DEL, U+2028, U+2029 and invalid UTF-8 (8904). TAB is
//     refused too: these are single-line values shown in forms, exported to
//     CSV and split into search words, where an invisible TAB is a
//     producer's bug; a space says the same. Format characters (ZWJ, ZWNJ,
//     bidi marks) are allowed: Indic and Persian names and emoji need them.
//     Lengths are characters (code points), not bytes.
//   - Identifier values keep the API's codes and lengths (8055, 8056, 8064,
//     8013); accountIds are at most 64 characters (8011); Config's source
//     names at most 64.
//   - A written customer may not grow past: 100 identifiers over all its
//     scopes (its index entries), 32 profiles counting conflicting ones, 50
//     custom fields or 20 comm channels in a profile, 50 extended fields,
//     and a Weight of 256 KiB (an upper bound of its JSON snapshot, and so
//     of its state document and Avro snapshot). Apply checks every
//     document a command writes, after all the rules passed; over: 8905
//     and nothing changes (a refused register does not even allocate its
//     id). A merge is refused like any other growth. A customer already
//     over a limit (stored before the limits existed) may still change as
//     long as it does not grow where it is over; an opt-out never grows
//     one (subscription states weigh the same). Update adds channels and
//     fields but cannot remove one, so a profile at 20 channels or 50
//     fields takes only changes of the existing ones.
//   - Request ids: at most 256 bytes, valid UTF-8, no control characters
//     (CheckRequestID). The processor checks them before the id becomes a
//     key; Apply refuses one anyway with ErrBadCommand (so the DLQ, not a
//     result, answers it). A result echoes source and accountId cut to 64
//     characters.
//   - search: q is at most 256 characters (8904).
//   - Mobile: "+" or a leading "00" marks an international number; with a
//     default country code configured, a number with a trunk "0" or at most
//     NationalMaxDigits (10) digits is national and gets the code. A number
//     starting with 0 after that is refused (no country code).
//   - Email: no quoted local parts, comments, spaces or display names; the
//     domain has a dot and no empty labels.
//   - wechat, martjackId, fbId: trimmed, 1–128 characters, no control
//     characters, else 8013 (the API has no dedicated code). externalId is
//     trimmed before its check.
//   - The deny-list (Config.DenyList, DefaultDenyList) is compared
//     case-insensitively with the trimmed value and the normalised key;
//     values made only of zeros, dashes, "+" and spaces are always refused.
//     Comm channel values are not deny-listed (they do not identify).
//   - loyaltyType: "non_loyalty" (any case) is non-loyalty, any other
//     non-empty value is loyalty, as DOMAIN.md words it.
//   - attributionV2.createDate must be RFC 3339; anything else is refused
//     with our code 8902 rather than silently replaced by the record time.
//   - JSON bodies: identifier and comm-channel values, fields and extended
//     fields accept numbers and booleans as their literal text;
//     primary/verified accept "true"/"false" strings (the API doc sends
//     both forms).
//
// register
//   - Joining customer X (8050) does not update X's details (the API doc:
//     register cannot update): where X already has a profile in the scope,
//     the registration adds its identifiers and only fills empty names,
//     missing fields and missing comm channels; X's loyalty type and
//     extended fields stay, missing extended fields are filled.
//   - A fresh customer's profile and attributionV2 take createDate when
//     given, else the command time.
//
// update
//   - Update patches: empty names keep the stored ones, given fields and
//     extended fields are set and the others kept, a given comm channel
//     replaces the stored one of the same type and value, others are kept.
//   - Identifiers nobody holds in the scope are not added; the command
//     still succeeds, with warning 8900 naming them (our code).
//   - A new profile (no profile in that scope yet) has no identifiers.
//   - An update always counts as a change (modifiedDate moves).
//
// changeIdentifier
//   - Removals apply before additions. An identifier both added and
//     removed in one command is refused (8013), as is an empty command.
//   - Adding an identifier the customer already holds in the scope is a
//     no-op; one it holds only in other scopes is simply added (no merge).
//   - "Last identifier" counts all the customer's identifiers, in every
//     scope, after the whole command; refused with our code 8901.
//   - A changeIdentifier on a merged-away customer is refused with 8053
//     "already merged with user id S" (the API doc's wording), whatever it
//     adds or removes; update and subscriptions on one give 8069.
//   - On a merge, createdId is the survivor; the merge notice's identifier
//     is the first added one the survivor holds. Survivor values win
//     everywhere: its profile stays primary in a shared scope and gains the
//     victim's identifiers (so the survivor holds them there), the victim's
//     profile goes to conflictingProfileList; subscriptions and extended
//     fields only fill gaps; the survivor's createDate stays; the survivor
//     becomes loyalty if either was (a merge must not take a membership
//     away). The victim's tombstone is written before the survivor.
//
// subscriptions
//   - Only the source is checked (the API call names no source or
//     account); the accountId of an entry is free text (≤ 64, else 8011).
//   - Channel, priority and type are upper-cased; a bad priority or type is
//     8010 like a bad channel (no other code fits).
//   - A subscription the customer never had counts as changed by any
//     state; several entries for one subscription: the last wins; the echo
//     lists changed subscriptions in request order. Nothing changed: success
//     with an empty echo and no write.
//
// Queries and views
//   - Any customer id of another org, or <= 0, answers 8009 like a missing
//     one (lookup simply does not find it).
//   - lookup and fetch refuse an invalid value with the type's code (8055,
//     8056, 8064) and an unknown identifierName with 8013.
//   - fetch: embed is a comma-separated list (quotes allowed); unknown
//     names are ignored. points and mlp of a non-loyalty customer are left
//     out with warning 8089; loyaltyDetails answers 8089 for a non-loyalty
//     customer or another program id.
//   - Points are not modelled: every amount is 0, loyaltyId is the customer
//     id, currentSlab is Config.DefaultSlab, slabSNo 1, nextSlabSerialNumber
//     -1. segments is {} and lifetimePurchases 0.
//   - Times render in UTC RFC 3339 (the instant is kept, the client's
//     offset is not), so snapshots are identical however state stores time.
//   - createdBy/modifiedBy name the source (and account): custream does not
//     know the till or user. The customer-level attributionV2 names the
//     earliest profile's source and the most recently modified one's.
//   - search: q is trimmed and lower-cased; a phone-like q ("+91 91111")
//     is searched as its digits; several words must all match (a prefix of
//     some token each); an empty q finds nothing. limit <= 0 is 10, above
//     100 is 100, a negative offset is 0. matchedIdentifiers list, profile
//     by profile, the first name, last name and identifiers that matched;
//     search profiles carry only source, firstName and lastName, as the
//     API's sample.
//   - Subscriptions display TRANS before BULK, then by channel; accountId
//     appears only when set (GET), always in the command's echo (POST).
//   - The snapshot of a live customer is fetch with source ALL and
//     embed=subscriptions (so a subscriptions change shows); a merged-away
//     customer's snapshot is {id, mergedInto, empty lists}.
package customer
