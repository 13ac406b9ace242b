package customer

// CustomerResponse is the API's response to register and update.
type CustomerResponse struct {
	CreatedID int64   `json:"createdId"`
	Warnings  []Issue `json:"warnings"`
	Errors    []Issue `json:"errors,omitempty"`
}

// ChangeIdentifierResponse is the API's response to changeIdentifier.
type ChangeIdentifierResponse struct {
	Success  bool    `json:"success"`
	Warnings []Issue `json:"warnings"`
	Errors   []Issue `json:"errors,omitempty"`
}

// SubscriptionsResponse is the API's response to the subscriptions
// command: the request's scope, ids and reason, and the subscriptions that
// changed. (The API's sample also shows Thrift bookkeeping flags such as
// setScope; they carry no information and are left out.)
type SubscriptionsResponse struct {
	Scope           *Scope         `json:"scope,omitempty"`
	Subscriptions   []Subscription `json:"subscriptions"` // with accountId, as the API's sample
	CampaignID      int64          `json:"campaignId"`
	CommunicationID int64          `json:"communicationId"`
	Reason          string         `json:"reason"`
	Warnings        []Issue        `json:"warnings"`
	Errors          []Issue        `json:"errors,omitempty"`
}

// Response renders a command's result as the API's response body.
func Response(cmd Command, r Result) any {
	warnings := append([]Issue{}, r.Warnings...)
	switch cmd.Op {
	case OpChangeIdentifier:
		return ChangeIdentifierResponse{Success: r.Success, Warnings: warnings, Errors: r.Errors}
	case OpSubscriptions:
		out := SubscriptionsResponse{Subscriptions: append([]Subscription{}, r.Subscriptions...), Warnings: warnings, Errors: r.Errors}
		if b := cmd.Subscriptions; b != nil {
			out.Scope, out.CampaignID, out.CommunicationID, out.Reason = b.Scope, b.CampaignID, b.CommunicationID, b.Reason
		}
		return out
	default:
		return CustomerResponse{CreatedID: r.CreatedID, Warnings: warnings, Errors: r.Errors}
	}
}
