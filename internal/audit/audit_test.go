package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wrctl/wrctl/internal/audit"
	"github.com/wrctl/wrctl/internal/room"
)

func n(v int64) *int64 { return &v }

// onSale is the log of a small on-sale done right: capacity 2, five
// pre-queued joins drawn at the start, three later joins, everyone
// admitted in line order and leaving.
func onSale(t *testing.T) []audit.Entry {
	t.Helper()
	seed := room.NewSeed()
	seedHex := room.SeedString(seed)
	commit, _ := audit.SeedHash(seedHex)
	at := int64(1_700_000_000_000)
	es := []audit.Entry{{Type: audit.TypeSettings, At: at, Settings: &audit.Settings{Capacity: 2, QueueingMethod: "fifo", StartsAt: at + 60_000}},
		{Type: audit.TypeCommit, At: at, SeedHash: commit}}
	var pre []int64
	for tk := int64(1); tk <= 5; tk++ {
		es = append(es, audit.Entry{Type: audit.TypeJoin, At: at + tk, Ticket: tk, Ref: audit.Ref(strings.Repeat("a", 31) + string(rune('0'+tk))), Pre: true})
		pre = append(pre, tk)
	}
	perm := room.PermuteWithSeed(len(pre), seed)
	order := make([]int64, len(pre))
	for i, j := range perm {
		order[i] = pre[j]
	}
	es = append(es, audit.Entry{Type: audit.TypeDraw, At: at + 60_000, Seed: seedHex, Tickets: pre, Order: order})
	for tk := int64(6); tk <= 8; tk++ {
		es = append(es, audit.Entry{Type: audit.TypeJoin, At: at + 60_000 + tk, Ticket: tk, Ref: audit.Ref("later" + string(rune('0'+tk)))})
	}
	line := append(slices.Clone(order), 6, 7, 8)
	adm := int64(0)
	for i, tk := range line {
		adm++
		active := int64(1)
		if i > 0 {
			active = 2
		}
		es = append(es, audit.Entry{Type: audit.TypeAdmit, At: at + 61_000 + int64(i), Ticket: tk, Admission: adm, Active: n(active)})
		if i > 0 {
			es = append(es, audit.Entry{Type: audit.TypeLeave, At: at + 61_000 + int64(i), Ticket: line[i-1], Reason: "left"})
		}
	}
	return append(es, audit.Entry{Type: audit.TypeLeave, At: at + 70_000, Ticket: line[len(line)-1], Reason: "left"})
}

// publish chains the entries and signs the head, as the server does.
func publish(t *testing.T, es []audit.Entry, priv ed25519.PrivateKey) []byte {
	t.Helper()
	lines, err := audit.Chain(es, 1, audit.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
	}
	last, _ := audit.HashLine(bytes.TrimSpace(lines[len(lines)-1]))
	head, _ := jsonLine(audit.NewHead("E1", int64(len(lines)), last, priv, "k1"))
	b.Write(head)
	return b.Bytes()
}

func keys(t *testing.T) (ed25519.PrivateKey, map[string]ed25519.PublicKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, map[string]ed25519.PublicKey{"k1": pub}
}

func TestARightOnSaleIsProven(t *testing.T) {
	priv, ks := keys(t)
	es := onSale(t)
	rep, err := audit.Verify(bytes.NewReader(publish(t, es, priv)), audit.Options{Keys: ks, SessionID: strings.Repeat("a", 31) + "3"})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Proven() || !rep.Signed || rep.Admitted != 8 || rep.MaxActive != 2 || rep.PreQueued != 5 || !rep.Drawn {
		t.Fatalf("report %+v", rep)
	}
	if s := rep.Session; s == nil || s.Ticket != 3 || !s.Pre || s.Place < 1 || s.Admission != int64(s.Place) || s.End != "left" {
		t.Fatalf("ticket 3's story %+v", s)
	}
	// Without the key the log still holds together, and says it is unchecked.
	if rep, err := audit.Verify(bytes.NewReader(publish(t, es, priv)), audit.Options{}); err != nil || rep.Signed || rep.Unsigned == "" {
		t.Fatalf("without keys: %+v, %v", rep, err)
	}
}

// TestATamperedLogIsRejected: a digit changed, a line dropped, two lines
// swapped, the head cut off or signed by another key: each breaks the log.
func TestATamperedLogIsRejected(t *testing.T) {
	priv, ks := keys(t)
	log := publish(t, onSale(t), priv)
	lines := bytes.SplitAfter(bytes.TrimSuffix(log, []byte("\n")), []byte("\n"))
	otherPriv, _ := keys(t)
	for name, tampered := range map[string][]byte{
		"a digit changed": bytes.Replace(log, []byte(`"admission":3`), []byte(`"admission":4`), 1),
		"a line dropped":  bytes.Join(slices.Delete(slices.Clone(lines), 9, 10), nil),
		"two lines swapped": func() []byte {
			l := slices.Clone(lines)
			l[10], l[11] = l[11], l[10]
			return bytes.Join(l, nil)
		}(),
		"the head cut off":       bytes.Join(lines[:len(lines)-1], nil),
		"the last entry dropped": bytes.Join(append(slices.Clone(lines[:len(lines)-2]), lines[len(lines)-1]), nil),
		"signed by another key":  publish(t, onSale(t), otherPriv),
	} {
		if _, err := audit.Verify(bytes.NewReader(tampered), audit.Options{Keys: ks}); !errors.Is(err, audit.ErrBroken) {
			t.Errorf("%s: %v, want ErrBroken", name, err)
		}
	}
}

// TestARoomThatBrokeTheRulesIsCaught: logs that hold together but show
// an admission out of line, over capacity, over the rate, while paused, or
// a draw its seed does not give.
func TestARoomThatBrokeTheRulesIsCaught(t *testing.T) {
	priv, ks := keys(t)
	admits := func(es []audit.Entry) []int {
		var out []int
		for i, e := range es {
			if e.Type == audit.TypeAdmit {
				out = append(out, i)
			}
		}
		return out
	}
	for name, mutate := range map[string]func([]audit.Entry) []audit.Entry{
		"out of order": func(es []audit.Entry) []audit.Entry {
			a := admits(es)
			es[a[0]].Ticket, es[a[1]].Ticket = es[a[1]].Ticket, es[a[0]].Ticket
			return es
		},
		"over capacity": func(es []audit.Entry) []audit.Entry {
			es[0].Settings.Capacity = 1
			return es
		},
		"over the rate": func(es []audit.Entry) []audit.Entry {
			es[0].Settings.NewUsersPerMinute = 60 // one a second; they came a millisecond apart
			return es
		},
		"while paused": func(es []audit.Entry) []audit.Entry {
			es[0].Settings.Paused = true
			return es
		},
		"a draw its seed does not give": func(es []audit.Entry) []audit.Entry {
			for i := range es {
				if es[i].Type == audit.TypeDraw {
					o := es[i].Order
					o[0], o[1] = o[1], o[0]
				}
			}
			return es
		},
		"a seed other than the one committed": func(es []audit.Entry) []audit.Entry {
			es[1].SeedHash = strings.Repeat("ab", 32)
			return es
		},
		"an admission from the pre-queue": func(es []audit.Entry) []audit.Entry {
			for i := range es {
				if es[i].Type == audit.TypeDraw {
					adm := audit.Entry{Type: audit.TypeAdmit, At: es[i].At - 1, Ticket: 1, Admission: 1, Active: n(1)}
					return slices.Insert(es, i, adm)
				}
			}
			return es
		},
	} {
		rep, err := audit.Verify(bytes.NewReader(publish(t, mutate(onSale(t)), priv)), audit.Options{Keys: ks})
		if err != nil || rep.Proven() {
			t.Errorf("%s: %v, violations %v: the verifier let it pass", name, err, rep)
		}
	}
}

func TestRefIsNotTheSessionID(t *testing.T) {
	id := strings.Repeat("c", 32)
	if r := audit.Ref(id); len(r) != 32 || strings.Contains(r, id) || r == hex.EncodeToString([]byte(id))[:32] {
		t.Fatalf("Ref = %s", r)
	}
}

func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}
