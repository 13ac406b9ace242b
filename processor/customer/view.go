package customer

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// The view types below are the API doc's response bodies; their json tags
// are its field names. Lists and objects are never null: an empty one
// renders as [] or {} like the API's samples. Times render in UTC RFC 3339
// (the instant is kept; the offset a client sent is not, so snapshots are
// byte-identical however the state stores times).

// FetchView is the body of GET /v2/customers/{id}, and (with source ALL
// and subscriptions embedded) the body of a customers.snapshots record
// (SnapshotView).
type FetchView struct {
	ID                    int64             `json:"id"`
	Profiles              []ProfileView     `json:"profiles"`
	LoyaltyInfo           LoyaltyInfoView   `json:"loyaltyInfo"`
	Segments              map[string]string `json:"segments"`
	ExtendedFields        map[string]string `json:"extendedFields"`
	PointsSummary         *PointsSummary    `json:"pointsSummary,omitempty"`
	SubscriptionInfo      *SubscriptionInfo `json:"subscriptionInfo,omitempty"`
	LoyaltyProgramDetails []ProgramDetails  `json:"loyaltyProgramDetails,omitempty"`
	Warnings              []Issue           `json:"warnings"`
	Errors                []Issue           `json:"errors,omitempty"`
}

// ProfileView is one element of profiles (and of conflictingProfileList).
type ProfileView struct {
	FirstName              string            `json:"firstName"`
	LastName               string            `json:"lastName"`
	Attribution            AttributionView   `json:"attribution"`
	Fields                 map[string]string `json:"fields"`
	Identifiers            []Identifier      `json:"identifiers"`
	CommChannels           []CommChannelView `json:"commChannels"`
	Source                 string            `json:"source"`
	AccountID              string            `json:"accountId"`
	UserID                 int64             `json:"userId"`
	ConflictingProfileList []ProfileView     `json:"conflictingProfileList"`
	AutoUpdateTime         string            `json:"autoUpdateTime"`
}

// CommChannelView is a profile's comm channel; meta is {} when it has
// none, as in the API's samples.
type CommChannelView struct {
	Type     string          `json:"type"`
	Value    string          `json:"value"`
	Primary  bool            `json:"primary"`
	Verified bool            `json:"verified"`
	Meta     map[string]bool `json:"meta"`
}

// AttributionView is a profile's attribution.
type AttributionView struct {
	CreateDate   string `json:"createDate"`
	CreatedBy    Actor  `json:"createdBy"`
	ModifiedBy   Actor  `json:"modifiedBy"`
	ModifiedDate string `json:"modifiedDate"`
}

// Actor is who made a change. custream knows the source system (and
// account) a command came from, not the till or user inside it, so the
// actor is the source: code and name "WECHAT/22232", type "SOURCE".
type Actor struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	Name        string `json:"name"`
	Type        string `json:"type"`
}

// ActorRef is the short actor of attributionV2.
type ActorRef struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// LoyaltyInfoView is loyaltyInfo.
type LoyaltyInfoView struct {
	LoyaltyType       string            `json:"loyaltyType"`
	AttributionV2     AttributionV2View `json:"attributionV2"`
	LifetimePurchases float64           `json:"lifetimePurchases"`
}

// AttributionV2View is loyaltyInfo.attributionV2: created by the source of
// the earliest profile, modified by the source of the latest change.
type AttributionV2View struct {
	CreateDate   string   `json:"createDate"`
	CreatedBy    ActorRef `json:"createdBy"`
	ModifiedBy   ActorRef `json:"modifiedBy"`
	ModifiedDate string   `json:"modifiedDate"`
}

// PointsSummary is embed=points.
type PointsSummary struct {
	Adjusted             float64 `json:"adjusted"`
	CumulativePurchases  float64 `json:"cumulativePurchases"`
	CurrentSlab          string  `json:"currentSlab"`
	Expired              float64 `json:"expired"`
	LifetimePoints       float64 `json:"lifetimePoints"`
	LoyaltyID            int64   `json:"loyaltyId"`
	LoyaltyPoints        float64 `json:"loyaltyPoints"`
	NextSlab             string  `json:"nextSlab"`
	NextSlabDescription  string  `json:"nextSlabDescription"`
	NextSlabSerialNumber int     `json:"nextSlabSerialNumber"`
	Redeemed             float64 `json:"redeemed"`
	Returned             float64 `json:"returned"`
	SlabExpiryDate       string  `json:"slabExpiryDate"`
	SlabSNo              int     `json:"slabSNo"`
}

// ProgramDetails is one loyalty program's details (embed=mlp and
// loyaltyDetails).
type ProgramDetails struct {
	Redeemed             float64 `json:"redeemed"`
	Expired              float64 `json:"expired"`
	Returned             float64 `json:"returned"`
	Adjusted             float64 `json:"adjusted"`
	LifetimePoints       float64 `json:"lifetimePoints"`
	LoyaltyPoints        float64 `json:"loyaltyPoints"`
	CumulativePurchases  float64 `json:"cumulativePurchases"`
	LoyaltyID            int64   `json:"loyaltyId"`
	CurrentSlab          string  `json:"currentSlab"`
	NextSlab             string  `json:"nextSlab"`
	NextSlabSerialNumber int     `json:"nextSlabSerialNumber"`
	NextSlabDescription  string  `json:"nextSlabDescription"`
	SlabSNo              int     `json:"slabSNo"`
	SlabExpiryDate       string  `json:"slabExpiryDate"`
	ProgramID            int64   `json:"programId"`
}

// SubscriptionInfo is embed=subscriptions.
type SubscriptionInfo struct {
	Subscriptions []SubscriptionView `json:"subscriptions"`
}

// SubscriptionView is one subscription as the API renders it; accountId
// appears only when the subscription has one.
type SubscriptionView struct {
	Channel   string `json:"channel"`
	AccountID string `json:"accountId,omitempty"`
	Priority  string `json:"priority"`
	Type      string `json:"type"`
}

// LookupView is the body of GET /v2/customers/lookup.
type LookupView struct {
	Entity   int64   `json:"entity"`
	Warnings []Issue `json:"warnings"`
	Errors   []Issue `json:"errors,omitempty"`
}

// SearchView is the body of GET /v2/customers/search.
type SearchView struct {
	Pagination Pagination  `json:"pagination"`
	Data       []SearchHit `json:"data"`
	Warnings   []Issue     `json:"warnings"`
	Errors     []Issue     `json:"errors"`
}

// Pagination of a search.
type Pagination struct {
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
	Total  int `json:"total"`
}

// SearchHit is one customer found by search.
type SearchHit struct {
	UserID             int64           `json:"userId"`
	MatchedIdentifiers []Match         `json:"matchedIdentifiers"`
	Profiles           []SearchProfile `json:"profiles"`
}

// Match is one name or identifier value that matched the query.
type Match struct {
	IDType    string `json:"idType"` // firstName, lastName or an identifier type
	IDValue   string `json:"idValue"`
	Source    string `json:"source"`
	AccountID string `json:"accountId"`
}

// SearchProfile is the short profile of a search hit.
type SearchProfile struct {
	Source    string `json:"source"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
}

// LoyaltyDetailsView is the body of GET /v2/customers/{id}/loyaltyDetails.
type LoyaltyDetailsView struct {
	Data     []ProgramDetails `json:"data"`
	Warnings []Issue          `json:"warnings"`
	Errors   []Issue          `json:"errors"`
}

// SubscriptionsView is the body of GET /v2/customers/{id}/subscriptions.
type SubscriptionsView struct {
	Subscriptions   []SubscriptionView `json:"subscriptions"`
	CampaignID      int64              `json:"campaignId"`
	CommunicationID int64              `json:"communicationId"`
	Warnings        []Issue            `json:"warnings"`
	Errors          []Issue            `json:"errors,omitempty"`
}

// SnapshotView is a customers.snapshots record: the customer as fetch
// with source ALL and embed=subscriptions returns it, plus the org and,
// for a merged-away customer, whom it merged into. A merged-away
// customer's record has only ID, Org and MergedInto (Customer is nil), so
// in JSON it is {"id":…,"org":…,"mergedInto":…}; any other has no
// mergedInto. loyaltyProgramDetails lists the balances the loyalty engine
// published (embed=mlp without the zero shape of the org's default
// program, which depends on the configuration, not on the customer) and
// is left out when there are none. schemas/snapshot.avsc is the same
// document in Avro.
type SnapshotView struct {
	ID         int64 `json:"id"`
	Org        int64 `json:"org"`
	MergedInto int64 `json:"mergedInto,omitempty"`
	// The fetch body; its id is ID. nil for a merged-away customer.
	*FetchView
}

// Snapshot is the customers.snapshots record of c (SnapshotView). It
// depends on c alone, not on the configuration: of the points embeds it
// has the stored balances only.
func Snapshot(c *Customer) SnapshotView {
	v := SnapshotView{ID: c.ID, Org: c.Org, MergedInto: c.MergedInto}
	if c.MergedInto == 0 {
		fv := fetchView(Config{}, c, nil, embeds{subscriptions: true})
		fv.LoyaltyProgramDetails = storedPrograms(c)
		v.FetchView = &fv
	}
	return v
}

func emptyFetch(id int64) FetchView {
	return FetchView{
		ID:             id,
		Profiles:       []ProfileView{},
		Segments:       map[string]string{},
		ExtendedFields: map[string]string{},
		Warnings:       []Issue{},
	}
}

// embeds are the parts fetch's embed parameter asks for.
type embeds struct{ points, subscriptions, mlp bool }

// fetchView renders c; only (if non-nil) is the one profile to show.
func fetchView(cfg Config, c *Customer, only *Profile, e embeds) FetchView {
	v := emptyFetch(c.ID)
	for i := range c.Profiles {
		p := &c.Profiles[i]
		if only == nil || p == only {
			v.Profiles = append(v.Profiles, profileView(c.ID, p))
		}
	}
	for k, val := range c.ExtendedFields {
		v.ExtendedFields[k] = val
	}
	v.LoyaltyInfo = LoyaltyInfoView{LoyaltyType: c.LoyaltyType, AttributionV2: attributionV2(c), LifetimePurchases: LifetimePurchases(c)}
	if e.points {
		if c.LoyaltyType == Loyalty {
			ps := pointsSummary(cfg, c)
			v.PointsSummary = &ps
		} else {
			v.Warnings = append(v.Warnings, notInProgram(c.ID, 0))
		}
	}
	if e.subscriptions {
		v.SubscriptionInfo = &SubscriptionInfo{Subscriptions: subscriptionViews(c.Subscriptions)}
	}
	if e.mlp {
		if c.LoyaltyType == Loyalty {
			v.LoyaltyProgramDetails = allPrograms(cfg, c)
		} else {
			v.Warnings = append(v.Warnings, notInProgram(c.ID, 0))
		}
	}
	return v
}

func profileView(userID int64, p *Profile) ProfileView {
	a := actor(p.Source, p.AccountID)
	v := ProfileView{
		FirstName: p.FirstName,
		LastName:  p.LastName,
		Attribution: AttributionView{
			CreateDate:   stamp(p.CreateDate),
			CreatedBy:    a,
			ModifiedBy:   a,
			ModifiedDate: stamp(p.ModifiedDate),
		},
		Fields:                 map[string]string{},
		Identifiers:            append([]Identifier{}, p.Identifiers...),
		CommChannels:           make([]CommChannelView, 0, len(p.CommChannels)),
		Source:                 p.Source,
		AccountID:              p.AccountID,
		UserID:                 userID,
		ConflictingProfileList: []ProfileView{},
		AutoUpdateTime:         stamp(p.ModifiedDate),
	}
	for k, val := range p.Fields {
		v.Fields[k] = val
	}
	for _, ch := range p.CommChannels {
		meta := make(map[string]bool, len(ch.Meta))
		for k, val := range ch.Meta {
			meta[k] = val
		}
		v.CommChannels = append(v.CommChannels, CommChannelView{Type: ch.Type, Value: ch.Value, Primary: ch.Primary, Verified: ch.Verified, Meta: meta})
	}
	for i := range p.Conflicting {
		v.ConflictingProfileList = append(v.ConflictingProfileList, profileView(userID, &p.Conflicting[i]))
	}
	return v
}

func actor(source, accountID string) Actor {
	name := scope{source, accountID}.String() // schemas.appendActor writes the same
	return Actor{Code: name, Name: name, Type: "SOURCE"}
}

func attributionV2(c *Customer) AttributionV2View {
	v := AttributionV2View{CreateDate: stamp(c.CreateDate), ModifiedDate: stamp(c.ModifiedDate)}
	if first, last := AttributionProfiles(c); first != nil {
		a, b := actor(first.Source, first.AccountID), actor(last.Source, last.AccountID)
		v.CreatedBy = ActorRef{Code: a.Code, Name: a.Name}
		v.ModifiedBy = ActorRef{Code: b.Code, Name: b.Name}
	}
	return v
}

// AttributionProfiles are the profiles loyaltyInfo.attributionV2 names:
// the earliest created (createdBy) and the latest modified (modifiedBy),
// the first in profile order on a tie; nil when c has no profiles.
func AttributionProfiles(c *Customer) (created, modified *Profile) {
	for i := range c.Profiles {
		p := &c.Profiles[i]
		if created == nil || p.CreateDate.Before(created.CreateDate) {
			created = p
		}
		if modified == nil || p.ModifiedDate.After(modified.ModifiedDate) {
			modified = p
		}
	}
	return created, modified
}

// pointsSummary is embed=points: the customer's balance in the org's
// default program, or the zero shape (programDetails).
func pointsSummary(cfg Config, c *Customer) PointsSummary {
	d := programDetails(cfg, c, cfg.LoyaltyProgramID)
	return PointsSummary{
		Adjusted:             d.Adjusted,
		CumulativePurchases:  d.CumulativePurchases,
		CurrentSlab:          d.CurrentSlab,
		Expired:              d.Expired,
		LifetimePoints:       d.LifetimePoints,
		LoyaltyID:            d.LoyaltyID,
		LoyaltyPoints:        d.LoyaltyPoints,
		NextSlab:             d.NextSlab,
		NextSlabDescription:  d.NextSlabDescription,
		NextSlabSerialNumber: d.NextSlabSerialNumber,
		Redeemed:             d.Redeemed,
		Returned:             d.Returned,
		SlabExpiryDate:       d.SlabExpiryDate,
		SlabSNo:              d.SlabSNo,
	}
}

// programDetails is c's standing in program: its stored balance, or, for a
// program it has none in, the zero shape: no points, the configured
// default slab as tier 1, no next slab (-1).
func programDetails(cfg Config, c *Customer, program int64) ProgramDetails {
	if i := pointsOf(c, program); i >= 0 {
		return balanceView(c, &c.Points[i])
	}
	return ProgramDetails{
		LoyaltyID:            c.ID,
		CurrentSlab:          cfg.DefaultSlab,
		NextSlabSerialNumber: -1,
		SlabSNo:              1,
		ProgramID:            program,
	}
}

// allPrograms is embed=mlp and loyaltyDetails without a programId: the
// org's default program (every loyalty customer is in it, with zeros until
// the engine publishes a balance) and every program c has a balance in,
// by program id.
func allPrograms(cfg Config, c *Customer) []ProgramDetails {
	out := make([]ProgramDetails, 0, len(c.Points)+1)
	if pointsOf(c, cfg.LoyaltyProgramID) < 0 {
		out = append(out, programDetails(cfg, c, cfg.LoyaltyProgramID))
	}
	for i := range c.Points {
		out = append(out, balanceView(c, &c.Points[i]))
	}
	slices.SortFunc(out, func(a, b ProgramDetails) int { return cmp.Compare(a.ProgramID, b.ProgramID) })
	return out
}

// storedPrograms renders c's balances alone, as the snapshot carries them
// (it depends on c, not on the configuration's default program); nil when
// c has none.
func storedPrograms(c *Customer) []ProgramDetails {
	if len(c.Points) == 0 {
		return nil
	}
	out := make([]ProgramDetails, len(c.Points))
	for i := range c.Points {
		out[i] = balanceView(c, &c.Points[i])
	}
	return out
}

// balanceView renders one stored balance; a balance without the engine's
// loyalty id shows the customer's id.
func balanceView(c *Customer, b *Balance) ProgramDetails {
	d := ProgramDetails{
		Redeemed:             b.Redeemed,
		Expired:              b.Expired,
		Returned:             b.Returned,
		Adjusted:             b.Adjusted,
		LifetimePoints:       b.LifetimePoints,
		LoyaltyPoints:        b.LoyaltyPoints,
		CumulativePurchases:  b.CumulativePurchases,
		LoyaltyID:            b.LoyaltyID,
		CurrentSlab:          b.CurrentSlab,
		NextSlab:             b.NextSlab,
		NextSlabSerialNumber: int(b.NextSlabSerialNumber),
		NextSlabDescription:  b.NextSlabDescription,
		SlabSNo:              int(b.SlabSNo),
		SlabExpiryDate:       b.SlabExpiryDate,
		ProgramID:            b.ProgramID,
	}
	if d.LoyaltyID == 0 {
		d.LoyaltyID = c.ID
	}
	return d
}

// LifetimePurchases is loyaltyInfo.lifetimePurchases: the customer's
// cumulative purchases summed over its programs' balances (0 without any).
// Summed, like a merge sums them, so it needs no configuration and the
// snapshot can carry it.
func LifetimePurchases(c *Customer) float64 {
	var sum float64
	for i := range c.Points {
		sum += c.Points[i].CumulativePurchases
	}
	return sum
}

func notInProgram(id, programID int64) Issue {
	if programID != 0 {
		return Issuef(CodeNotInLoyaltyProgram, "Customer is not registered in the loyalty program: customer %d, program %d", id, programID)
	}
	return Issuef(CodeNotInLoyaltyProgram, "Customer is not registered in the loyalty program: customer %d is non_loyalty", id)
}

// subscriptionViews orders subscriptions as the API's samples do
// (CompareSubscriptionViews).
func subscriptionViews(subs []Subscription) []SubscriptionView {
	out := make([]SubscriptionView, 0, len(subs))
	for _, s := range subs {
		out = append(out, SubscriptionView(s))
	}
	slices.SortStableFunc(out, func(a, b SubscriptionView) int { return CompareSubscriptionViews(Subscription(a), Subscription(b)) })
	return out
}

// CompareSubscriptionViews is the order of subscriptions in the fetch
// view and the snapshot: TRANS before BULK, then by channel and account.
// Subscriptions equal in those keep their stored order (sort stably).
func CompareSubscriptionViews(a, b Subscription) int {
	if ta, tb := a.Priority == "TRANS", b.Priority == "TRANS"; ta != tb {
		if ta {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.Channel, b.Channel); c != 0 {
		return c
	}
	return strings.Compare(a.AccountID, b.AccountID)
}

// StampLayout is how the views render a time: RFC 3339 in UTC, to the
// second ("" for the zero time).
const StampLayout = time.RFC3339

// stamp renders t in UTC RFC 3339, or "" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(StampLayout)
}
