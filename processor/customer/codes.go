package customer

import "fmt"

// Code is an error or warning code of the customer API. The catalogue below
// is the one table used by the rules, the results, the HTTP facade and the
// docs (DOMAIN.md, "Errors and warnings").
type Code int

// The API's codes. Errors mean the action did not happen; warnings mean it
// happened with a side note.
const (
	CodeDuplicateInScope     Code = 8007 // identifier already registered in the same source/account
	CodeHeldByOtherOnUpdate  Code = 8008 // identifier held by a different customer in this source (update)
	CodeNoSuchCustomer       Code = 8009 // no such customer (id)
	CodeInvalidCommChannel   Code = 8010 // communication channel invalid
	CodeInvalidSourceAccount Code = 8011 // invalid source account
	CodeInvalidSource        Code = 8012 // invalid source
	CodeInvalidIdentifier    Code = 8013 // invalid identifier or identifierName
	CodeNotFoundByIdentifier Code = 8015 // no customer found with the given identifier
	CodeLoyaltyDowngrade     Code = 8018 // a loyalty customer cannot become non-loyalty
	CodeMissingAccountID     Code = 8045 // accountId missing for a multi-account source
	CodeJoined               Code = 8050 // warning: joined with the same customer in another source
	CodeMerged               Code = 8051 // warning: merged into the account with user id X
	CodeMergeRefused         Code = 8053 // identifiers belong to different customers / merge refused
	CodeInvalidEmail         Code = 8055 // invalid email identifier
	CodeInvalidMobile        Code = 8056 // invalid mobile identifier
	CodeInvalidChannelEmail  Code = 8057 // invalid email in a communication channel
	CodeInvalidChannelMobile Code = 8058 // invalid mobile in a communication channel
	CodeInvalidExternalID    Code = 8064 // external id validation failed
	CodeNotFoundInSource     Code = 8065 // no customer in the given source with this identifier
	CodeMergedAway           Code = 8069 // the customer is merged into another account
	CodeNotInLoyaltyProgram  Code = 8089 // customer not registered in the loyalty program
	CodeIdentifierNotAdded   Code = 8900 // warning (ours, DOMAIN.md gives no code): update ignored identifiers nobody holds
	CodeRemoveLastIdentifier Code = 8901 // ours (DOMAIN.md gives no code): removing the last identifier is refused
	CodeInvalidCreateDate    Code = 8902 // ours (DOMAIN.md gives no code): attributionV2.createDate is not RFC 3339
	CodeTooMany              Code = 8903 // ours: a command carries more items of a kind than limits.go allows
	CodeBadText              Code = 8904 // ours: a name, field or search text is too long or has control characters
	CodeCustomerFull         Code = 8905 // ours: the command would grow a customer past a limit of limits.go
	CodeMoreIssues           Code = 8906 // ours: the result lists MaxIssues errors; this one counts the rest
	CodeSearchCapped         Code = 8907 // warning (ours): a search of several words checked only MaxSearchCandidates customers
	CodeStaleBalance         Code = 8908 // ours: a balance not newer than the stored one is ignored
	CodePointsRedirected     Code = 8909 // warning (ours): a merged-away customer's balance changed its survivor's
)

// Catalogue lists every code with its default message, in the order of
// DOMAIN.md's table. Messages may be specialised per occurrence (the rules
// add ids and values), but the code always means the same thing.
var Catalogue = []struct {
	Code    Code
	Warning bool
	Message string
}{
	{CodeDuplicateInScope, false, "Identifier is already registered in the same source"},
	{CodeHeldByOtherOnUpdate, false, "Different profiles are identified in the same source"},
	{CodeNoSuchCustomer, false, "No customer found with the given id"},
	{CodeInvalidCommChannel, false, "Communication channel is invalid"},
	{CodeInvalidSourceAccount, false, "Source account is invalid"},
	{CodeInvalidSource, false, "Source is invalid"},
	{CodeInvalidIdentifier, false, "Customer identifier is invalid"},
	{CodeNotFoundByIdentifier, false, "No customer found with the given identifier"},
	{CodeLoyaltyDowngrade, false, "A loyalty customer cannot be converted to a non-loyalty customer"},
	{CodeMissingAccountID, false, "Account id is not passed"},
	{CodeJoined, true, "Same customer found in other sources, combining"},
	{CodeMerged, true, "Same identifier found in other source. Merging into the account with user id X"},
	{CodeMergeRefused, false, "Each identifier is registered with a different customer in other source. Unable to merge accounts"},
	{CodeInvalidEmail, false, "Invalid email id"},
	{CodeInvalidMobile, false, "Invalid mobile number"},
	{CodeInvalidChannelEmail, false, "Invalid email id passed in the comm channel"},
	{CodeInvalidChannelMobile, false, "Invalid mobile number passed in the comm channel"},
	{CodeInvalidExternalID, false, "External id validation failed"},
	{CodeNotFoundInSource, false, "No customer found in the given source with the given identifier"},
	{CodeMergedAway, false, "The customer is merged into another account"},
	{CodeNotInLoyaltyProgram, false, "Customer is not registered in the loyalty program"},
	{CodeIdentifierNotAdded, true, "Identifiers not held by the customer are not added by update; use changeIdentifier"},
	{CodeRemoveLastIdentifier, false, "The customer's last identifier cannot be removed"},
	{CodeInvalidCreateDate, false, "attributionV2.createDate is invalid; use YYYY-MM-DDTHH:MM:SS+HH:MM"},
	{CodeTooMany, false, "Too many items in the request"},
	{CodeBadText, false, "Text is too long or has control characters"},
	{CodeCustomerFull, false, "The customer would exceed a size limit"},
	{CodeMoreIssues, false, "More errors than a result lists"},
	{CodeSearchCapped, true, "The search checked only the newest candidates; its total is a lower bound"},
	{CodeStaleBalance, false, "The balance is not newer than the stored one and was ignored"},
	{CodePointsRedirected, true, "The balance's customer is merged into another account; the survivor's balance changed"},
}

// Issue is one error or warning as the API renders it.
type Issue struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// NewIssue returns an issue with the catalogue's message, or msg when given.
func NewIssue(c Code, msg string) Issue {
	if msg == "" {
		msg = c.Message()
	}
	return Issue{Code: c, Message: msg}
}

// Issuef returns an issue with a formatted, occurrence-specific message.
func Issuef(c Code, format string, args ...any) Issue {
	return Issue{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Message is the catalogue's default message for c.
func (c Code) Message() string {
	for _, e := range Catalogue {
		if e.Code == c {
			return e.Message
		}
	}
	return fmt.Sprintf("error %d", int(c))
}

// IsWarning reports whether c is a warning code.
func (c Code) IsWarning() bool {
	for _, e := range Catalogue {
		if e.Code == c {
			return e.Warning
		}
	}
	return false
}

// Error makes an Issue usable as a Go error inside the rules.
func (i Issue) Error() string { return fmt.Sprintf("%d: %s", int(i.Code), i.Message) }
