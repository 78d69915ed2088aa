package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/app"
	"github.com/wrctl/wrctl/internal/app/apptest"
	"github.com/wrctl/wrctl/internal/granter"
	"github.com/wrctl/wrctl/internal/queue"
	"github.com/wrctl/wrctl/internal/queue/memqueue"
	"github.com/wrctl/wrctl/internal/queue/sqsqueue"
	"github.com/wrctl/wrctl/internal/room"
	"github.com/wrctl/wrctl/internal/server"
	"github.com/wrctl/wrctl/internal/sqstest"
)

var emu *sqstest.Emulator

func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, &emu)) }

// backends are the queue backends every queue-dependent test runs on.
var backends = []string{"memory", "sqs"}

// room is a waiting room served on a real HTTP server, with its granter.
type harness struct {
	t     testing.TB
	URL   string
	Store room.Store
	Queue queue.Queue
	http  *http.Client
}

type options struct {
	policy  room.Policy
	granter granter.Config
	// noGranter leaves the granter off, so a test can run its own, and
	// sends every join through the queue (policy.QueueAll).
	noGranter bool
	// queue, if set, is used instead of a new queue of the backend.
	queue queue.Queue
	// store, if set, is used instead of a new memory store.
	store room.Store
	// now, if set, is the replica's own clock (server and granter), as a
	// replica whose clock is skewed would have.
	now func() time.Time
	// signer signs access tokens; HS256 with testSecret if nil.
	signer *accesstoken.Signer
	// server configures the server under test.
	server server.Config
	// log receives the server's logs; discarded if nil.
	log io.Writer
}

var testSecret = []byte("test-secret-test-secret-test-secret!")

func defaultOptions() options {
	return options{
		policy:  room.Policy{Capacity: 5, HeartbeatTTL: 30 * time.Second, WaitingTTL: 60 * time.Second, MaxActive: 15 * time.Minute},
		granter: granter.Config{Visibility: 30 * time.Second, Wait: 2 * time.Second},
	}
}

func newQueue(t testing.TB, backend string) queue.Queue {
	t.Helper()
	switch backend {
	case "memory":
		return memqueue.New(memqueue.Config{})
	case "sqs":
		return sqsqueue.New(emu.Client(), emu.NewQueue(t, true, nil))
	case "sqs-standard":
		return sqsqueue.New(emu.Client(), emu.NewQueue(t, false, nil))
	}
	t.Fatalf("unknown backend %q", backend)
	return nil
}

func newHarness(t testing.TB, backend string, o options) *harness {
	t.Helper()
	logw := o.log
	if logw == nil {
		logw = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.noGranter {
		o.policy.QueueAll = true // sessions stay WAITING: none is admitted at its join either
	}
	q := o.queue
	if q == nil {
		q = newQueue(t, backend)
	}
	if o.store != nil {
		t.Cleanup(func() { o.store.Close() })
	}
	signer := o.signer
	if signer == nil {
		signer, _ = accesstoken.NewHS256Signer(testSecret)
	}
	a := apptest.Start(t, app.Config{
		Addr:      "127.0.0.1:0",
		Server:    o.server,
		Granter:   o.granter,
		Policies:  room.StaticPolicies{Default: o.policy},
		Store:     o.store,
		Queue:     q,
		Signer:    signer,
		NoGranter: o.noGranter,
		Now:       o.now,
		Log:       log,
	})
	return &harness{t: t, URL: a.URL(), Store: a.Store(), Queue: a.Queue(), http: &http.Client{Transport: &http.Transport{}}}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (h *harness) do(method, path, contentType string, body []byte) response {
	h.t.Helper()
	return h.doWith(method, path, contentType, body, nil)
}

func (h *harness) doWith(method, path, contentType string, body []byte, hdr http.Header) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// join joins with the key "key-EVENT-USER", as one client would each time.
func (h *harness) join(event, user string) api.Session {
	h.t.Helper()
	r := h.joinKey(event, user, "key-"+event+"-"+user)
	if r.Status != http.StatusAccepted {
		h.t.Fatalf("join %s/%s: %d %s", event, user, r.Status, r.Body)
	}
	return decode[api.Session](h.t, r.Body)
}

// joinKey sends a join with an Idempotency-Key (none if key is empty).
func (h *harness) joinKey(event, user, key string) response {
	h.t.Helper()
	var hdr http.Header
	if key != "" {
		hdr = http.Header{"Idempotency-Key": {key}}
	}
	return h.doWith("POST", api.SessionsPath, "application/json", []byte(`{"eventId":"`+event+`","userId":"`+user+`"}`), hdr)
}

func (h *harness) status(id string) api.Session {
	h.t.Helper()
	r := h.do("GET", api.SessionsPath+"/"+id, "", nil)
	if r.Status != http.StatusOK {
		h.t.Fatalf("status %s: %d %s", id, r.Status, r.Body)
	}
	return decode[api.Session](h.t, r.Body)
}

func (h *harness) post(id, method string) int {
	h.t.Helper()
	return h.do("POST", api.SessionsPath+"/"+id+":"+method, "", nil).Status
}

func (h *harness) stats(event string) room.EventStats {
	h.t.Helper()
	s, err := h.Store.Stats(context.Background(), event)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func problem(t *testing.T, r response) api.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("content type %q, want application/problem+json (body %s)", ct, r.Body)
	}
	p := decode[api.Problem](t, r.Body)
	if p.Status != r.Status || p.Title == "" || p.Type == "" {
		t.Fatalf("problem body %+v does not match status %d", p, r.Status)
	}
	return p
}

// newHarnessOnDeadQueue serves on an SQS queue whose endpoint refuses
// connections: a real outage, not a fake.
func newHarnessOnDeadQueue(t *testing.T) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close()
	client := sqs.New(sqs.Options{
		Region:       sqstest.Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	o := defaultOptions()
	o.noGranter = true
	o.queue = sqsqueue.New(client, endpoint+"/000000000000/dead.fifo")
	return newHarness(t, "sqs", o)
}
