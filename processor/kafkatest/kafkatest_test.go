package kafkatest

import "testing"

func TestChoose(t *testing.T) {
	yes := func() bool { return true }
	no := func() bool { return false }
	asked := false
	spy := func() bool { asked = true; return true }

	for _, tc := range []struct {
		name   string
		env    string
		docker func() bool
		want   Backend
	}{
		{"env wins over docker", "127.0.0.1:9092", yes, Real},
		{"env with several seeds", "127.0.0.1:1, 127.0.0.1:2", no, Real},
		{"docker when no env", "", yes, Container},
		{"blank env is no env", "   ", yes, Container},
		{"kfake when neither", "", no, Fake},
		{"kfake when docker unknown", "", nil, Fake},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Choose(tc.env, tc.docker); got != tc.want {
				t.Fatalf("Choose(%q) = %s, want %s", tc.env, got, tc.want)
			}
		})
	}

	if Choose("127.0.0.1:9092", spy); asked {
		t.Fatal("Choose asked Docker although brokers were given")
	}
}

func TestSplitBrokers(t *testing.T) {
	got := splitBrokers(" 127.0.0.1:1,,127.0.0.1:2 ")
	if len(got) != 2 || got[0] != "127.0.0.1:1" || got[1] != "127.0.0.1:2" {
		t.Fatalf("splitBrokers = %q", got)
	}
}
