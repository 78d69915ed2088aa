package audit

import (
	"bufio"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/wrctl/wrctl/internal/room"
)

// ErrBroken wraps a log whose chain does not hold: a line changed,
// dropped, added or moved.
var ErrBroken = errors.New("the log is broken")

// Options are what Verify checks the log against.
type Options struct {
	// Keys are the room's public keys by id (its JWKS): the head's
	// signature is checked with the one it names.
	Keys map[string]ed25519.PublicKey
	// SessionID, if set, is a session whose story is told.
	SessionID string
}

// Report is what Verify found.
type Report struct {
	Event   string `json:"event"`
	Entries int64  `json:"entries"`
	Head    string `json:"head"`
	// Signed says the head's signature verified; Unsigned why not.
	Signed   bool   `json:"signed"`
	Unsigned string `json:"unsigned,omitempty"`

	Joined, Admitted, Left, Expired int64
	// MaxActive is the most sessions inside at once; Capacity the least
	// capacity in force while any were.
	MaxActive int64 `json:"maxActive"`
	PreQueued int   `json:"preQueued"`
	Drawn     bool  `json:"drawn"`
	// Violations are the rules the log shows broken; empty when proven.
	Violations []string      `json:"violations"`
	Session    *SessionStory `json:"session,omitempty"`
}

// Proven reports whether the log showed no violation.
func (r *Report) Proven() bool { return len(r.Violations) == 0 }

// SessionStory is one session as the log tells it.
type SessionStory struct {
	Ref       string `json:"ref"`
	Ticket    int64  `json:"ticket"`
	Pre       bool   `json:"preQueued"`
	Place     int    `json:"placeAfterDraw,omitempty"` // 1-based, pre-queued only
	Admission int64  `json:"admission,omitempty"`
	End       string `json:"end,omitempty"`
}

// Verify reads a published log (one entry a line, then its head) and
// checks that it holds together, then proves the room's rules from it.
// A broken log is an error wrapping ErrBroken; a rule broken is a
// violation in the report.
func Verify(r io.Reader, o Options) (*Report, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64<<20)
	p := newProver(o)
	prev, seq := Genesis, int64(0)
	var head *Head
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if head != nil {
			return nil, fmt.Errorf("%w: line %d follows the head", ErrBroken, n)
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBroken, n, err)
		}
		if e.Type == TypeHead {
			var h Head
			if err := json.Unmarshal(line, &h); err != nil {
				return nil, fmt.Errorf("%w: head: %v", ErrBroken, err)
			}
			head = &h
			continue
		}
		if seq == 0 && e.Seq > 1 {
			prev = e.Prev // a log resumed with ?from= starts where the reader asked
		}
		if seq != 0 && e.Seq != seq+1 || seq == 0 && e.Seq < 1 {
			return nil, fmt.Errorf("%w: line %d has seq %d after %d", ErrBroken, n, e.Seq, seq)
		}
		hash, err := HashLine(line)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: line %d: %v", ErrBroken, n, err)
		case e.Prev != prev:
			return nil, fmt.Errorf("%w: entry %d does not follow entry %d (prev %.12s…, want %.12s…)", ErrBroken, e.Seq, seq, e.Prev, prev)
		case e.Hash != hash:
			return nil, fmt.Errorf("%w: entry %d was changed: its hash is %.12s…, its content hashes to %.12s…", ErrBroken, e.Seq, e.Hash, hash)
		}
		prev, seq = e.Hash, e.Seq
		p.take(e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if head == nil {
		return nil, fmt.Errorf("%w: no head line: the log was cut short", ErrBroken)
	}
	if head.Seq != seq || head.Hash != prev {
		return nil, fmt.Errorf("%w: the head names entry %d (%.12s…), the log ends at %d (%.12s…)", ErrBroken, head.Seq, head.Hash, seq, prev)
	}
	rep := p.report()
	rep.Event, rep.Entries, rep.Head = head.Event, seq, head.Hash
	switch pub, ok := o.Keys[head.Kid]; {
	case head.Sig == "":
		rep.Unsigned = ErrUnsigned.Error()
	case !ok:
		rep.Unsigned = fmt.Sprintf("no key %q to check the head's signature with (give the room's JWKS)", head.Kid)
	default:
		if err := head.CheckSignature(pub); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBroken, err)
		}
		rep.Signed = true
	}
	return rep, nil
}

// prover replays the entries and notes each rule broken.
type prover struct {
	o        Options
	rep      Report
	settings *Settings
	lastTick int64
	pre      map[int64]bool
	waiting  map[int64]bool // in line, not pre-queued
	drawn    []int64        // the draw's order, still waiting, first in line
	active   map[int64]bool
	commit   string
	bucket   bucket
	story    *SessionStory
	ref      string
}

func newProver(o Options) *prover {
	p := &prover{o: o, pre: map[int64]bool{}, waiting: map[int64]bool{}, active: map[int64]bool{}}
	if o.SessionID != "" {
		p.ref = Ref(o.SessionID)
	}
	return p
}

func (p *prover) bad(e Entry, format string, a ...any) {
	p.rep.Violations = append(p.rep.Violations, fmt.Sprintf("entry %d (%s): ", e.Seq, e.Type)+fmt.Sprintf(format, a...))
}

func (p *prover) take(e Entry) {
	switch e.Type {
	case TypeSettings:
		if e.Settings == nil {
			p.bad(e, "no settings")
			return
		}
		p.settings = e.Settings
	case TypeCommit:
		p.commit = e.SeedHash
	case TypeJoin:
		p.join(e)
	case TypeDraw:
		p.draw(e)
	case TypeAdmit:
		p.admit(e)
	case TypeLeave, TypeExpire:
		p.end(e)
	default:
		p.bad(e, "unknown entry type")
	}
}

func (p *prover) join(e Entry) {
	p.rep.Joined++
	if e.Ticket <= p.lastTick {
		p.bad(e, "ticket %d after ticket %d: tickets must rise", e.Ticket, p.lastTick)
	}
	p.lastTick = max(p.lastTick, e.Ticket)
	if e.Pre {
		p.pre[e.Ticket] = true
		p.rep.PreQueued++
	} else {
		p.waiting[e.Ticket] = true
	}
	if p.ref != "" && e.Ref == p.ref {
		p.story = &SessionStory{Ref: e.Ref, Ticket: e.Ticket, Pre: e.Pre}
	}
}

func (p *prover) draw(e Entry) {
	p.rep.Drawn = true
	want := slices.Sorted(func(yield func(int64) bool) {
		for t := range p.pre {
			if !yield(t) {
				return
			}
		}
	})
	if !slices.Equal(e.Tickets, want) {
		p.bad(e, "the draw lists tickets %v, the pre-queue held %v", e.Tickets, want)
	}
	switch hash, err := SeedHash(e.Seed); {
	case err != nil:
		p.bad(e, "%v", err)
	case p.commit == "":
		p.bad(e, "the seed was not committed to before the draw")
	case hash != p.commit:
		p.bad(e, "the seed hashes to %.12s…, not to the commitment %.12s…", hash, p.commit)
	default:
		seed, _ := hexSeed(e.Seed)
		perm := room.PermuteWithSeed(len(e.Tickets), seed)
		for i, j := range perm {
			if i >= len(e.Order) || e.Order[i] != e.Tickets[j] {
				p.bad(e, "the drawn order is not the permutation the seed gives")
				break
			}
		}
	}
	p.drawn = slices.Clone(e.Order)
	for _, t := range p.drawn {
		p.waiting[t] = true // in line now, ahead of every later join
	}
	clear(p.pre)
	for i, t := range p.drawn {
		if p.story != nil && p.story.Ticket == t {
			p.story.Place = i + 1
		}
	}
}

// head is the ticket first in line: the draw's order, then the others by
// ticket.
func (p *prover) head() (int64, bool) {
	for len(p.drawn) > 0 && !p.waiting[p.drawn[0]] {
		p.drawn = p.drawn[1:]
	}
	if len(p.drawn) > 0 {
		return p.drawn[0], true
	}
	var first int64
	for t := range p.waiting {
		if first == 0 || t < first {
			first = t
		}
	}
	return first, first != 0
}

func (p *prover) admit(e Entry) {
	s := p.settings
	if s == nil {
		p.bad(e, "an admission before any settings")
		return
	}
	switch {
	case p.pre[e.Ticket]:
		p.bad(e, "ticket %d admitted from the pre-queue before the draw", e.Ticket)
	case !p.waiting[e.Ticket]:
		p.bad(e, "ticket %d admitted but not waiting", e.Ticket)
	case s.QueueingMethod != string(room.MethodRandom):
		if h, _ := p.head(); h != e.Ticket {
			p.bad(e, "ticket %d admitted while ticket %d was first in line", e.Ticket, h)
		}
	}
	delete(p.waiting, e.Ticket)
	p.active[e.Ticket] = true
	p.rep.Admitted++
	if e.Admission != p.rep.Admitted {
		p.bad(e, "admission number %d, want %d", e.Admission, p.rep.Admitted)
	}
	n := int64(len(p.active))
	if e.Active == nil || *e.Active != n {
		p.bad(e, "active after it %v, the log counts %d", e.Active, n)
	}
	p.rep.MaxActive = max(p.rep.MaxActive, n)
	if s.QueueingMethod != string(room.MethodPassthrough) {
		if n > int64(s.Capacity) {
			p.bad(e, "%d inside, over the capacity of %d", n, s.Capacity)
		}
		if s.Paused {
			p.bad(e, "an admission while paused")
		}
		if s.NewUsersPerMinute > 0 {
			if !p.bucket.take(s.NewUsersPerMinute, e.At) {
				p.bad(e, "over the rate of %d a minute", s.NewUsersPerMinute)
			}
		}
	}
	if p.story != nil && p.story.Ticket == e.Ticket {
		p.story.Admission = e.Admission
	}
}

func (p *prover) end(e Entry) {
	switch {
	case p.active[e.Ticket]:
		delete(p.active, e.Ticket)
	case p.waiting[e.Ticket], p.pre[e.Ticket]:
		delete(p.waiting, e.Ticket)
		delete(p.pre, e.Ticket)
	default:
		p.bad(e, "ticket %d ended but was neither waiting nor inside", e.Ticket)
	}
	if e.Type == TypeLeave {
		p.rep.Left++
	} else {
		p.rep.Expired++
	}
	if p.story != nil && p.story.Ticket == e.Ticket {
		p.story.End = e.Reason
	}
}

func (p *prover) report() *Report {
	rep := p.rep
	rep.Session = p.story
	if rep.Violations == nil {
		rep.Violations = []string{}
	}
	return &rep
}

// bucket is room.Bucket as the verifier replays it: the store refills it
// at every attempt, the log shows only the admissions, and the store's
// arithmetic (Redis keeps it as text) may round differently; a millionth
// of a token is forgiven.
type bucket struct {
	tokens float64
	at     int64
	used   bool
}

func (b *bucket) take(perMinute int, now int64) bool {
	burst := max(1, float64(perMinute)/60)
	if !b.used {
		b.tokens, b.at, b.used = burst, now, true
	}
	b.tokens = min(burst, b.tokens+float64(max(now-b.at, 0))*float64(perMinute)/60000)
	b.at = now
	if b.tokens < 1-1e-6 {
		return false
	}
	b.tokens = max(b.tokens-1, 0)
	return true
}

func hexSeed(s string) ([32]byte, error) {
	var seed [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return seed, fmt.Errorf("bad seed")
	}
	copy(seed[:], b)
	return seed, nil
}
