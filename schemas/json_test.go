package schemas

import (
	"reflect"
	"strings"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// The API doc's sample request bodies, copied verbatim (tabs, trailing
// spaces, "_comment" and all): they must decode unchanged.
const (
	docRegister = `{  
   "profiles":[  
      {  
         "firstName":"Tom",
         "lastName":"Sawyer",
         "fields":{  
            "Favorite Color":"Green",
            "Favorite Sport":"Cricket"
         },
         "identifiers":[  
            {  
               "type":"email",
               "value":"tom.sayer@example.com"
            }
         ],
         "commChannels":[  
            {  
               "type":"wechat",
               "value":"ojOPTwFOX-aBmdRlE9MHptPjt2w19",
               "primary":true,
               "verified":true
            }
         ]
      }
   ],
   "loyaltyInfo":{  
      "loyaltyType":"loyalty",
	  "_comment": "loyaltyType can be loyalty or non_loyalty"
   },
   "extendedFields":{  
      "gender":"Male",
      "city":"Bangalore"
   }
}`

	docUpdate = `{  
   "profiles":[  
      {  
         "firstName":"Tom",
         "lastName":"Sawyer",
         "fields":{  
            "gender":"Male",
            "city":"Bangalore"
         },
         "identifiers":[  
            {  
               "type":"mobile",
               "value":919111111111
            },
            {  
               "type":"email",
               "value":"tom.sawyer@example.com"
            },
            {  
               "type":"wechat",
               "value":"wc_2"
            }
         ],
         "commChannels":[  
            {  
               "type":"email",
               "value":"tom.sawyer@example.com",
               "primary":"true",
               "verified":"false",
               "meta":{  
                  "residence":true
               }
            },
            {  
               "type":"wechat",
               "value":"wc_2",
               "primary":"true",
               "verified":"true",
               "meta":{  
                  "residence":true
               }
            }
         ],
         "source":"WECHAT",
         "accountId":"1234"
      }
   ],
   "loyaltyInfo":{  
      "loyaltyType":"loyalty"
   },
   "extendedFields":  
      {  
         "gender":"MALE",
         "city":"Bangalore"
      }
   
}
`

	docChangeIdentifier = `{
"add": [{
"type": "wechat",
"value": "ray11"
}],
"remove": [{
"type": "email",
"value": "tom.sawyer@example.com"
}]
}`

	docSubscriptions = `{
    "communicationId": -1,
    "campaignId": -1,
    "reason": "Example reason",
    "scope": {
        "scope": "USER", 
        "subScope": "NONE"
    }, 
    "subscriptions": [
        {
            "channel": "EMAIL",
            "accountId": "",
            "priority": "BULK",
            "type": "OPTOUT"
        },
        {
            "channel": "SMS",
            "accountId": "",
            "priority": "BULK",
            "type": "OPTOUT"
        }, 
        {
            "channel": "EMAIL",
            "accountId": "",
            "priority": "TRANS",
            "type": "OPTIN"
        },
        {
            "channel": "SMS",
            "accountId": "123",
            "priority": "TRANS",
            "type": "OPTIN"
        }
    ]
}`
)

// apiDocBodies are the samples with the domain values they must become.
func apiDocBodies() []struct {
	name string
	op   customer.Op
	body string
	want customer.Command
} {
	return []struct {
		name string
		op   customer.Op
		body string
		want customer.Command
	}{
		{"register", customer.OpRegister, docRegister, customer.Command{Op: customer.OpRegister, Register: &customer.CustomerBody{
			Profiles: []customer.ProfileInput{{
				FirstName: "Tom", LastName: "Sawyer",
				Fields:       map[string]string{"Favorite Color": "Green", "Favorite Sport": "Cricket"},
				Identifiers:  []customer.Identifier{{Type: "email", Value: "tom.sayer@example.com"}},
				CommChannels: []customer.CommChannel{{Type: "wechat", Value: "ojOPTwFOX-aBmdRlE9MHptPjt2w19", Primary: true, Verified: true}},
			}},
			LoyaltyInfo:    &customer.LoyaltyInput{LoyaltyType: "loyalty"},
			ExtendedFields: map[string]string{"gender": "Male", "city": "Bangalore"},
		}}},
		{"update", customer.OpUpdate, docUpdate, customer.Command{Op: customer.OpUpdate, Update: &customer.CustomerBody{
			Profiles: []customer.ProfileInput{{
				FirstName: "Tom", LastName: "Sawyer",
				Fields: map[string]string{"gender": "Male", "city": "Bangalore"},
				Identifiers: []customer.Identifier{
					{Type: "mobile", Value: "919111111111"},
					{Type: "email", Value: "tom.sawyer@example.com"},
					{Type: "wechat", Value: "wc_2"},
				},
				CommChannels: []customer.CommChannel{
					{Type: "email", Value: "tom.sawyer@example.com", Primary: true, Verified: false, Meta: map[string]bool{"residence": true}},
					{Type: "wechat", Value: "wc_2", Primary: true, Verified: true, Meta: map[string]bool{"residence": true}},
				},
				Source: "WECHAT", AccountID: "1234",
			}},
			LoyaltyInfo:    &customer.LoyaltyInput{LoyaltyType: "loyalty"},
			ExtendedFields: map[string]string{"gender": "MALE", "city": "Bangalore"},
		}}},
		{"changeIdentifier", customer.OpChangeIdentifier, docChangeIdentifier, customer.Command{Op: customer.OpChangeIdentifier, ChangeIdentifier: &customer.ChangeIdentifierBody{
			Add:    []customer.Identifier{{Type: "wechat", Value: "ray11"}},
			Remove: []customer.Identifier{{Type: "email", Value: "tom.sawyer@example.com"}},
		}}},
		{"subscriptions", customer.OpSubscriptions, docSubscriptions, customer.Command{Op: customer.OpSubscriptions, Subscriptions: &customer.SubscriptionsBody{
			CommunicationID: -1, CampaignID: -1, Reason: "Example reason",
			Scope: &customer.Scope{Scope: "USER", SubScope: "NONE"},
			Subscriptions: []customer.Subscription{
				{Channel: "EMAIL", Priority: "BULK", Type: "OPTOUT"},
				{Channel: "SMS", Priority: "BULK", Type: "OPTOUT"},
				{Channel: "EMAIL", Priority: "TRANS", Type: "OPTIN"},
				{Channel: "SMS", AccountID: "123", Priority: "TRANS", Type: "OPTIN"},
			},
		}}},
	}
}

func TestAPIDocBodies(t *testing.T) {
	for _, tc := range apiDocBodies() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeJSONBody(tc.op, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
			// The same command survives the Avro form and the JSON form.
			b, err := EncodeCommand(got)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := DecodeCommand(b); err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("Avro round trip: %+v, %v", back, err)
			}
			if tc.op != customer.OpRegister { // register has no customer id
				got.CustomerID = 329
			}
			value, hs, err := EncodeJSONCommand(got)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeJSONCommand(hs, value)
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("JSON round trip: %+v, %v", back, err)
			}
		})
	}
}

func TestJSONLenient(t *testing.T) {
	body := "\xEF\xBB\xBF" + `{"profiles":[{"firstName":"Ann","lastName":null,"fields":{"age":42,"vip":true,"score":1.50,"none":null},
		"identifiers":[{"type":"mobile","value":919111111111},{"type":"externalId","value":12345678901234567890123}],
		"commChannels":[{"type":"mobile","value":919111111111,"primary":"TRUE","verified":false,"meta":{"residence":"false","office":true}}],
		"accountId":22232,"unknown":{"deep":[1,2]}}],
		"extendedFields":{"gender":"Female","dob":19900101},"attributionV2":{"createDate":"2016-06-23T19:11:18+08:00","createdBy":{"code":"x"}},
		"somethingElse":[{"x":1}]}`
	got, err := DecodeJSONBody(customer.OpRegister, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := &customer.CustomerBody{
		Profiles: []customer.ProfileInput{{
			FirstName: "Ann",
			Fields:    map[string]string{"age": "42", "vip": "true", "score": "1.50", "none": ""},
			Identifiers: []customer.Identifier{
				{Type: "mobile", Value: "919111111111"},
				{Type: "externalId", Value: "12345678901234567890123"},
			},
			CommChannels: []customer.CommChannel{{Type: "mobile", Value: "919111111111", Primary: true, Meta: map[string]bool{"residence": false, "office": true}}},
			AccountID:    "22232",
		}},
		ExtendedFields: map[string]string{"gender": "Female", "dob": "19900101"},
		AttributionV2:  &customer.AttributionInput{CreateDate: "2016-06-23T19:11:18+08:00"},
	}
	if !reflect.DeepEqual(got.Register, want) {
		t.Errorf("\n got %+v\nwant %+v", got.Register, want)
	}
	sub, err := DecodeJSONBody(customer.OpSubscriptions, []byte(`{"communicationId":"17","campaignId":-1,"subscriptions":[]}`))
	if err != nil || sub.Subscriptions.CommunicationID != 17 || sub.Subscriptions.Subscriptions != nil {
		t.Errorf("subscriptions: %+v, %v", sub.Subscriptions, err)
	}
}

func TestJSONErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		op        customer.Op
		body, msg string
	}{
		{customer.OpRegister, `{"profiles":"Tom"}`, "profiles: want an array, got a string"},
		{customer.OpRegister, `{"profiles":["Tom"]}`, "profiles[0]: want an object, got a string"},
		{customer.OpRegister, `{"profiles":[{"identifiers":[{"type":"email","value":"a@b.c"},{"type":"mobile","value":{"n":1}}]}]}`, "profiles[0].identifiers[1].value: want a string, number or boolean, got an object"},
		{customer.OpRegister, `{"profiles":[{"identifiers":{"type":"email"}}]}`, "profiles[0].identifiers: want an array, got an object"},
		{customer.OpUpdate, `{"profiles":[{"commChannels":[{"type":"email","primary":"yes"}]}]}`, `profiles[0].commChannels[0].primary: want true or false, got "yes"`},
		{customer.OpUpdate, `{"profiles":[{"commChannels":[{"meta":{"a":true,"b":3}}]}]}`, "profiles[0].commChannels[0].meta.b: want a boolean, got a number"},
		{customer.OpUpdate, `{"profiles":[{"fields":{"x":[1]}}]}`, "profiles[0].fields.x: want a string, number or boolean, got an array"},
		{customer.OpUpdate, `{"extendedFields":["a"]}`, "extendedFields: want an object, got an array"},
		{customer.OpUpdate, `{"loyaltyInfo":"loyalty"}`, "loyaltyInfo: want an object, got a string"},
		{customer.OpChangeIdentifier, `{"add":[{"type":"wechat","value":["x"]}]}`, "add[0].value: want a string, number or boolean, got an array"},
		{customer.OpSubscriptions, `{"campaignId":1.5}`, "campaignId: want an integer, got 1.5"},
		{customer.OpSubscriptions, `{"scope":"USER"}`, "scope: want an object, got a string"},
		{customer.OpSubscriptions, `{"subscriptions":{"channel":"SMS"}}`, "subscriptions: want an array, got an object"},
		{customer.OpRegister, `[]`, "register body: want a JSON object, got an array"},
		{customer.OpRegister, `null`, "register body: want a JSON object, got null"},
		{customer.OpRegister, ``, "empty JSON body"},
		{customer.OpRegister, `{"profiles":[]`, "invalid JSON"},
		{customer.OpRegister, `{} {}`, "data after the body"},
	} {
		_, err := DecodeJSONBody(tc.op, []byte(tc.body))
		if err == nil {
			t.Errorf("%s %s: decoded", tc.op, tc.body)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) || ErrorCode(err) != ErrCodeUndecodable {
			t.Errorf("%s %s:\n got %q (%s)\nwant %q", tc.op, tc.body, err, ErrorCode(err), tc.msg)
		}
	}
	if _, err := DecodeJSONBody("delete", []byte(`{}`)); ErrorCode(err) != ErrCodeUnknownOp {
		t.Errorf("unknown op: %v", err)
	}
}

func TestResultMergeJSON(t *testing.T) {
	r := sampleResult()
	b, err := EncodeResultJSON(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"requestId":"req-1","org":7,"source":"WECHAT","accountId":"22232","op":"changeIdentifier","success":true,"createdId":329,` +
		`"subscriptions":[{"channel":"SMS","accountId":"123","priority":"TRANS","type":"OPTIN"}],` +
		`"warnings":[{"code":8051,"message":"Same identifier found in other source. Merging into the account with user id 329"}],"errors":[],` +
		`"origin":{"topic":"customers.wechat","partition":3,"offset":1042}}`
	if string(b) != want {
		t.Errorf("result JSON\n got %s\nwant %s", b, want)
	}
	if back, err := DecodeResultJSON(b); err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("result JSON round trip: %+v, %v", back, err)
	}

	m := sampleMerge()
	b, err = EncodeMergeJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"org":7,"survivorId":329,"victimId":418,"identifier":{"type":"wechat","value":"ray11"},"source":"WECHAT","accountId":"22232","requestId":"req-3","time":"2016-06-23T11:11:18.123Z","balances":[]}`
	if string(b) != want {
		t.Errorf("merge JSON\n got %s\nwant %s", b, want)
	}
	if back, err := DecodeMergeJSON(b); err != nil || !reflect.DeepEqual(back, m) {
		t.Errorf("merge JSON round trip: %+v, %v", back, err)
	}
}
