package ingest

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

// Format is a load file's format.
type Format string

const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// ParseFormat reads "csv" or "jsonl".
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case CSV, JSONL:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want csv or jsonl", s)
}

// FormatOf guesses a file's format from its name: .jsonl and .ndjson are
// JSONL, anything else CSV.
func FormatOf(path string) Format {
	p := strings.ToLower(path)
	if strings.HasSuffix(p, ".jsonl") || strings.HasSuffix(p, ".ndjson") {
		return JSONL
	}
	return CSV
}

// Row is one record of a load file. Cmd carries the op, its body and the
// row's customerId and accountId; Org, Source and RequestID are the
// loader's to set. Err is set instead for a bad line.
type Row struct {
	Line int
	Cmd  customer.Command
	Err  error
}

// FileID is a file's content hash, the stem of its request ids.
type FileID struct {
	Hash  string // first 12 hex digits of the SHA-256 of the bytes
	Lines int    // physical lines, for progress estimates
}

// HashFile reads r to the end and returns its FileID.
func HashFile(r io.Reader) (FileID, error) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var id FileID
	var last byte = '\n'
	for {
		n, err := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			id.Lines += bytes.Count(buf[:n], []byte{'\n'})
			last = buf[n-1]
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return FileID{}, fmt.Errorf("hashing file: %w", err)
		}
	}
	if last != '\n' {
		id.Lines++ // a last line without a newline
	}
	id.Hash = hex.EncodeToString(h.Sum(nil))[:12]
	return id, nil
}

// RequestID is the request id of line of the file with hash, loaded into
// scope (see Scope).
func RequestID(scope, hash string, line int) string {
	return RequestIDPrefix(scope, hash) + strconv.Itoa(line)
}

// RequestIDPrefix is what every request id of the file with hash, loaded
// into scope, starts with.
func RequestIDPrefix(scope, hash string) string { return "load-" + scope + "-" + hash + "-" }

// Scope names where a load goes: the source in lower case, and the
// account when one is given ("instore", "wechat.22232"). It is part of the
// request ids because the processor remembers request ids per org, not per
// source: the same file loaded into MARTJACK after INSTORE must be new
// commands (joins), not repeats answered with INSTORE's results.
func Scope(source, account string) string {
	s := strings.ToLower(source)
	if account != "" {
		s += "." + account
	}
	return s
}

// LineOf returns the line of a request id of the file with hash loaded
// into scope, or false when the id belongs to another load or to none.
func LineOf(scope, hash, requestID string) (int, bool) {
	rest, ok := strings.CutPrefix(requestID, RequestIDPrefix(scope, hash))
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n > 0
}

// Parse reads a load file and calls fn with every row in file order, bad
// lines included. It stops at the first error of fn, of reading, or of the
// CSV header (unknown or missing columns), and returns it.
func Parse(r io.Reader, f Format, fn func(Row) error) error {
	switch f {
	case CSV:
		return parseCSV(newReader(r), commandColumns, fn)
	case JSONL:
		return parseJSONL(newReader(r), parseJSONLine, fn)
	}
	return fmt.Errorf("format %q: want csv or jsonl", f)
}

// newReader buffers a load file for reading line by line.
func newReader(r io.Reader) *bufio.Reader {
	br := bufio.NewReaderSize(r, 256<<10)
	// A UTF-8 byte order mark, as spreadsheet programs write, is not data.
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	return br
}

// CheckHeader reads the CSV header of r and reports an unknown or missing
// column, so a load can refuse a file before it connects to anything. For
// JSONL, which has no header, it does nothing.
func CheckHeader(r io.Reader, f Format) error {
	return checkHeader(f, func(fn func(Row) error) error { return Parse(r, f, fn) })
}

// checkHeader runs parse up to the first row of a CSV file.
func checkHeader(f Format, parse func(fn func(Row) error) error) error {
	if f != CSV {
		return nil
	}
	errStop := errors.New("stop")
	err := parse(func(Row) error { return errStop })
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// parseJSONL calls fn with every line of br that is not blank, decoded by
// decode: one record a line, only one line in memory at a time.
func parseJSONL(br *bufio.Reader, decode func([]byte) (customer.Command, error), fn func(Row) error) error {
	for line := 1; ; line++ {
		text, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading line %d: %w", line, err)
		}
		if t := bytes.TrimSpace(text); len(t) > 0 {
			cmd, perr := decode(t)
			if ferr := fn(Row{Line: line, Cmd: cmd, Err: perr}); ferr != nil {
				return ferr
			}
		}
		if err != nil { // io.EOF
			return nil
		}
	}
}

// parseJSONLine splits the loader's keys (op, customerId, accountId) from
// the body and decodes the body as the processor would.
func parseJSONLine(text []byte) (customer.Command, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(text, &obj); err != nil {
		return customer.Command{}, fmt.Errorf("not a JSON object: %w", err)
	}
	op := customer.OpRegister
	if raw, ok := obj["op"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return customer.Command{}, fmt.Errorf("op: want a string: %w", err)
		}
		if op, ok = schemas.ParseOp(s); !ok {
			return customer.Command{}, fmt.Errorf("op %q: want register, update, changeIdentifier or subscriptions", s)
		}
	}
	var id int64
	if raw, ok := obj["customerId"]; ok {
		// A number or its string, as the API doc's ids appear both ways.
		s := strings.Trim(string(raw), `"`)
		var err error
		if id, err = strconv.ParseInt(s, 10, 64); err != nil || id <= 0 {
			return customer.Command{}, fmt.Errorf("customerId %s: want a positive integer", raw)
		}
	}
	var account string
	if raw, ok := obj["accountId"]; ok {
		account = strings.Trim(string(raw), `"`)
	}
	delete(obj, "op")
	delete(obj, "customerId")
	delete(obj, "accountId")
	if op != customer.OpRegister && id == 0 {
		return customer.Command{}, fmt.Errorf("op %s needs a customerId", op)
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return customer.Command{}, fmt.Errorf("re-encoding body: %w", err)
	}
	cmd, err := schemas.DecodeJSONBody(op, body)
	if err != nil {
		return customer.Command{}, err
	}
	if op == customer.OpRegister {
		id = 0 // register has no id in the API; the processor ignores it too
	}
	cmd.CustomerID, cmd.AccountID = id, account
	return cmd, nil
}

// column kinds of a CSV header.
type colKind int

const (
	colOp colKind = iota
	colCustomerID
	colAccountID
	colFirstName
	colLastName
	colIdentifier // name = identifier type
	colChannel    // name = channel type
	colVerified   // name = channel type
	colLoyalty
	colCreateDate
	colExt   // name = extended field
	colField // name = custom field
	colAdd   // name = identifier type
	colRemove
	colSub // name = channel, priority; account = the subscription's accountId
	colCommunicationID
	colCampaignID
	colReason
	colScope
	colSubScope
)

type column struct {
	kind colKind
	name string
	// sub.<channel>.<priority>[.<accountId>] columns: the parts.
	channel, priority, account string
}

// The subscription channels and priorities of the API doc.
var (
	subChannels   = []string{"SMS", "EMAIL", "WECHAT"}
	subPriorities = []string{"TRANS", "BULK"}
)

var identifierTypes = []string{customer.IDMobile, customer.IDEmail, customer.IDExternalID, customer.IDWechat, customer.IDMartjackID, customer.IDFbID}

// canonicalIdentifier returns the API spelling of an identifier type.
func canonicalIdentifier(s string) (string, bool) {
	for _, t := range identifierTypes {
		if strings.EqualFold(s, t) {
			return t, true
		}
	}
	return "", false
}

func parseColumn(h string) (column, error) {
	h = strings.TrimSpace(h)
	lower := strings.ToLower(h)
	fixed := map[string]colKind{"op": colOp, "customerid": colCustomerID, "accountid": colAccountID,
		"firstname": colFirstName, "lastname": colLastName, "loyaltytype": colLoyalty, "createdate": colCreateDate,
		"communicationid": colCommunicationID, "campaignid": colCampaignID, "reason": colReason,
		"scope": colScope, "subscope": colSubScope}
	if k, ok := fixed[lower]; ok {
		return column{kind: k}, nil
	}
	if t, ok := canonicalIdentifier(h); ok {
		return column{kind: colIdentifier, name: t}, nil
	}
	for prefix, kind := range map[string]colKind{"ext.": colExt, "field.": colField} {
		if strings.HasPrefix(lower, prefix) && len(h) > len(prefix) {
			return column{kind: kind, name: h[len(prefix):]}, nil
		}
	}
	for prefix, kind := range map[string]colKind{"add.": colAdd, "remove.": colRemove} {
		if rest, ok := strings.CutPrefix(lower, prefix); ok {
			if t, ok := canonicalIdentifier(rest); ok {
				return column{kind: kind, name: t}, nil
			}
		}
	}
	if strings.HasPrefix(lower, "sub.") {
		// sub.<channel>.<priority>[.<accountId>]: the account is kept as
		// written and may itself hold dots.
		parts := strings.SplitN(h[len("sub."):], ".", 3)
		if len(parts) >= 2 {
			ch, pr := strings.ToUpper(parts[0]), strings.ToUpper(parts[1])
			if slices.Contains(subChannels, ch) && slices.Contains(subPriorities, pr) {
				c := column{kind: colSub, channel: ch, priority: pr}
				if len(parts) == 3 {
					c.account = parts[2]
				}
				return c, nil
			}
		}
		return column{}, fmt.Errorf("unknown column %q: a subscription column is sub.<channel>.<priority>[.<accountId>], channel SMS, EMAIL or WECHAT, priority TRANS or BULK", h)
	}
	if rest, ok := strings.CutPrefix(lower, "channel."); ok {
		typ, verified := strings.CutSuffix(rest, ".verified")
		switch typ {
		case "email", "mobile", "wechat":
			if verified {
				return column{kind: colVerified, name: typ}, nil
			}
			return column{kind: colChannel, name: typ}, nil
		}
	}
	return column{}, fmt.Errorf("unknown column %q (see `custream load -h` for the column names)", h)
}

func parseHeader(header []string) ([]column, error) {
	cols := make([]column, len(header))
	usable := false
	for i, h := range header {
		c, err := parseColumn(h)
		if err != nil {
			return nil, fmt.Errorf("CSV header, column %d: %w", i+1, err)
		}
		cols[i] = c
		if c.kind == colIdentifier || c.kind == colCustomerID || c.kind == colAdd {
			usable = true
		}
	}
	if !usable {
		return nil, errors.New("CSV header has no identifier column (mobile, email, externalId, wechat, martjackId, fbId) and no customerId: no row could be a valid command")
	}
	return cols, nil
}

// commandColumns reads a customers file's CSV header and returns the
// decoder of its rows.
func commandColumns(header []string) (func([]string) (customer.Command, error), error) {
	cols, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	return func(rec []string) (customer.Command, error) { return csvRow(cols, rec) }, nil
}

// parseCSV calls fn with every row of a CSV file after its header, which
// columns reads and turns into the decoder of one row's cells. Bad rows are
// rows with Err set; an error of columns stops the parse.
func parseCSV(br *bufio.Reader, columns func([]string) (func([]string) (customer.Command, error), error), fn func(Row) error) error {
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = 0 // the header's count, checked per row
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return errors.New("empty file: want a CSV header row")
	}
	if err != nil {
		return fmt.Errorf("reading the CSV header: %w", err)
	}
	decode, err := columns(header)
	if err != nil {
		return err
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var row Row
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			// The reader resumes after the broken record, so one bad row
			// never hides the rest.
			// An unterminated quote runs to where the error names, so say
			// both lines: the rows in between are inside this bad line.
			row = Row{Line: pe.StartLine, Err: fmt.Errorf("CSV: %w", pe)}
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				row.Err = fmt.Errorf("%d cells, the header has %d", len(rec), len(header))
			}
		case err != nil:
			return fmt.Errorf("reading CSV: %w", err)
		default:
			line, _ := cr.FieldPos(0)
			cmd, rerr := decode(rec)
			row = Row{Line: line, Cmd: cmd, Err: rerr}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// csvRow builds the command of one CSV row.
func csvRow(cols []column, rec []string) (customer.Command, error) {
	op := customer.OpRegister
	var cmd customer.Command
	var p customer.ProfileInput
	body := &customer.CustomerBody{}
	ci := &customer.ChangeIdentifierBody{}
	sb := &customer.SubscriptionsBody{}
	verified := map[string]bool{}
	var bodyCol, ciCol, subCol string // a cell of each kind, to name in errors
	for i, c := range cols {
		v := strings.TrimSpace(rec[i])
		if v == "" {
			continue
		}
		switch c.kind {
		case colOp:
			o, ok := schemas.ParseOp(v)
			if !ok {
				return cmd, fmt.Errorf("op %q: want register, update, changeIdentifier or subscriptions", v)
			}
			op = o
		case colCustomerID:
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id <= 0 {
				return cmd, fmt.Errorf("customerId %q: want a positive integer", v)
			}
			cmd.CustomerID = id
		case colAccountID:
			cmd.AccountID = v
		case colAdd:
			ci.Add = append(ci.Add, customer.Identifier{Type: c.name, Value: v})
			ciCol = "add." + c.name
		case colRemove:
			ci.Remove = append(ci.Remove, customer.Identifier{Type: c.name, Value: v})
			ciCol = "remove." + c.name
		case colSub, colCommunicationID, colCampaignID, colReason, colScope, colSubScope:
			if err := setSubscriptionCell(sb, c, v); err != nil {
				return cmd, err
			}
			subCol = columnName(c)
		default:
			if err := setBodyCell(body, &p, verified, c, v); err != nil {
				return cmd, err
			}
			bodyCol = columnName(c)
		}
	}
	for i := range p.CommChannels {
		p.CommChannels[i].Verified = verified[p.CommChannels[i].Type]
	}
	cmd.Op = op
	if subCol != "" && op != customer.OpSubscriptions {
		return cmd, fmt.Errorf("column %s applies to subscriptions, not %s", subCol, op)
	}
	switch op {
	case customer.OpRegister, customer.OpUpdate:
		if ciCol != "" {
			return cmd, fmt.Errorf("column %s applies to changeIdentifier, not %s", ciCol, op)
		}
		if p.FirstName != "" || p.LastName != "" || p.Fields != nil || p.Identifiers != nil || p.CommChannels != nil {
			body.Profiles = []customer.ProfileInput{p}
		}
		if op == customer.OpRegister {
			cmd.CustomerID = 0 // the API's register has no id
			cmd.Register = body
		} else {
			cmd.Update = body
		}
	case customer.OpChangeIdentifier:
		if bodyCol != "" {
			return cmd, fmt.Errorf("column %s does not apply to changeIdentifier (use add.<type> and remove.<type>)", bodyCol)
		}
		cmd.ChangeIdentifier = ci
	case customer.OpSubscriptions:
		if bodyCol != "" || ciCol != "" {
			return cmd, fmt.Errorf("column %s does not apply to subscriptions (use sub.<channel>.<priority>)", cmp.Or(bodyCol, ciCol))
		}
		if len(sb.Subscriptions) == 0 {
			return cmd, errors.New("a subscriptions row needs a sub.<channel>.<priority> cell (OPTIN or OPTOUT)")
		}
		cmd.Subscriptions = sb
	default:
		return cmd, fmt.Errorf("op %s is not supported in CSV; use the JSONL format", op)
	}
	if op != customer.OpRegister && cmd.CustomerID == 0 {
		return cmd, fmt.Errorf("op %s needs a customerId", op)
	}
	return cmd, nil
}

func setBodyCell(body *customer.CustomerBody, p *customer.ProfileInput, verified map[string]bool, c column, v string) error {
	switch c.kind {
	case colFirstName:
		p.FirstName = v
	case colLastName:
		p.LastName = v
	case colIdentifier:
		p.Identifiers = append(p.Identifiers, customer.Identifier{Type: c.name, Value: v})
	case colChannel:
		// The first channel of a type is its primary one, as a file has
		// no other way to say which is.
		primary := true
		for _, cc := range p.CommChannels {
			if cc.Type == c.name {
				primary = false
			}
		}
		p.CommChannels = append(p.CommChannels, customer.CommChannel{Type: c.name, Value: v, Primary: primary})
	case colVerified:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("channel.%s.verified %q: want true or false", c.name, v)
		}
		verified[c.name] = b
	case colLoyalty:
		body.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: v}
	case colCreateDate:
		body.AttributionV2 = &customer.AttributionInput{CreateDate: v}
	case colExt:
		if body.ExtendedFields == nil {
			body.ExtendedFields = map[string]string{}
		}
		body.ExtendedFields[c.name] = v
	case colField:
		if p.Fields == nil {
			p.Fields = map[string]string{}
		}
		p.Fields[c.name] = v
	}
	return nil
}

// setSubscriptionCell sets one cell of a subscriptions row. Values are
// passed on as written: the rules judge them, as they judge a JSONL body.
func setSubscriptionCell(sb *customer.SubscriptionsBody, c column, v string) error {
	switch c.kind {
	case colSub:
		sb.Subscriptions = append(sb.Subscriptions, customer.Subscription{Channel: c.channel, AccountID: c.account, Priority: c.priority, Type: v})
	case colCommunicationID, colCampaignID:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%s %q: want an integer", columnName(c), v)
		}
		if c.kind == colCommunicationID {
			sb.CommunicationID = n
		} else {
			sb.CampaignID = n
		}
	case colReason:
		sb.Reason = v
	case colScope, colSubScope:
		if sb.Scope == nil {
			sb.Scope = &customer.Scope{}
		}
		if c.kind == colScope {
			sb.Scope.Scope = v
		} else {
			sb.Scope.SubScope = v
		}
	}
	return nil
}

func columnName(c column) string {
	switch c.kind {
	case colSub:
		name := "sub." + c.channel + "." + c.priority
		if c.account != "" {
			name += "." + c.account
		}
		return name
	case colCommunicationID:
		return "communicationId"
	case colCampaignID:
		return "campaignId"
	case colReason:
		return "reason"
	case colScope:
		return "scope"
	case colSubScope:
		return "subScope"
	case colFirstName:
		return "firstName"
	case colLastName:
		return "lastName"
	case colLoyalty:
		return "loyaltyType"
	case colCreateDate:
		return "createDate"
	case colExt:
		return "ext." + c.name
	case colField:
		return "field." + c.name
	case colChannel:
		return "channel." + c.name
	case colVerified:
		return "channel." + c.name + ".verified"
	}
	return c.name
}
