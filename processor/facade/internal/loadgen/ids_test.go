package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

const genFile = `firstName,lastName,mobile,email
Li,Khan,86722354227,li@example.com
Emma,Kim,65764077295,emma@example.net
Omar,Rossi,,omar@example.net
Huck,Sharma,919151109,huck@example.net
Joe,Patel,86756265252,joe@example.org
`

const rejects = `line,requestId,code,message
5,load-INSTORE-abc-5,8056,invalid mobile
`

func TestReadMobilesSkipsRejectedAndEmpty(t *testing.T) {
	skip, err := readRejectLines(strings.NewReader(rejects))
	if err != nil {
		t.Fatal(err)
	}
	if !skip[5] || len(skip) != 1 {
		t.Fatalf("skip = %v, want line 5 only", skip)
	}
	got, err := readMobiles(strings.NewReader(genFile), skip, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"86722354227", "65764077295", "86756265252"}
	if !slices.Equal(got, want) {
		t.Fatalf("mobiles = %v, want %v (line 4 empty, line 5 rejected)", got, want)
	}
}

func TestReadMobilesSamplesUniformlyWithinMax(t *testing.T) {
	var b strings.Builder
	b.WriteString("mobile\n")
	for i := range 10000 {
		fmt.Fprintf(&b, "9%d\n", i%10)
	}
	got, err := readMobiles(strings.NewReader(b.String()), nil, 1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1000 {
		t.Fatalf("sample of %d, want 1000", len(got))
	}
	// Each of the ten values is a tenth of the file; a uniform sample of
	// 1000 holds each about 100 times, not the first rows' values only.
	counts := map[string]int{}
	for _, v := range got {
		counts[v]++
	}
	for d := range 10 {
		v := fmt.Sprintf("9%d", d)
		if c := counts[v]; c < 60 || c > 140 {
			t.Errorf("%s drawn %d times of 1000, want about 100", v, c)
		}
	}
	again, _ := readMobiles(strings.NewReader(b.String()), nil, 1000, 3)
	if !slices.Equal(got, again) {
		t.Error("same file and seed gave a different sample")
	}
}

func TestReadMobilesWantsAMobileColumn(t *testing.T) {
	if _, err := readMobiles(strings.NewReader("email\na@b.c\n"), nil, 10, 1); err == nil {
		t.Fatal("no error for a file without a mobile column")
	}
	if _, err := readRejectLines(strings.NewReader("code,line\n")); err == nil {
		t.Fatal("no error for a report whose first column is not line")
	}
}
