package queue

import "testing"

func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"v":1,"sessionId":"s","eventId":"e","seq":1}`, `{"v":2,"sessionId":"s","eventId":"e"}`, `{"v":1}`, `garbage`, `{"v":1,"sessionId":"","eventId":"e"}`, `null`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		b, err := DecodeBody(raw)
		if err != nil {
			return
		}
		if b.V != BodyVersion || b.SessionID == "" || b.EventID == "" {
			t.Fatalf("decoded an invalid body %q as %+v", raw, b)
		}
		again, err := DecodeBody(b.Encode())
		if err != nil || again != b {
			t.Fatalf("round trip of %+v = %+v, %v", b, again, err)
		}
	})
}
