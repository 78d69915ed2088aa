package room

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Settings are an event's own settings, from the config file's events
// section or changed at runtime (the admin API, persisted in the store so
// every replica applies them). A zero field keeps the configured value.
//
// The struct is the one definition of a per-event setting: each field's
// json name is its name everywhere (the API, the config file's
// events.<id>.<name>, `wrctl event set --<kebab-name>`, the docs), its doc
// tag its one-line description, and Policy has a field of the same name
// and type that it overrides. Adding a setting is a field here and one in
// Policy; the API, the merge, the flags, the config file and the docs read
// Table.
type Settings struct {
	Capacity          int           `json:"capacity" doc:"most ACTIVE sessions at once"`
	HeartbeatTTL      time.Duration `json:"heartbeatTTL" doc:"an ACTIVE session without a heartbeat for this long expires"`
	WaitingTTL        time.Duration `json:"waitingTTL" doc:"a WAITING session that shows no sign of life for this long is abandoned"`
	MaxActive         time.Duration `json:"maxActive" doc:"an ACTIVE session ends at this age whatever it does"`
	MaxWaiting        int           `json:"maxWaiting" doc:"refuse joins with 503 while this many wait"`
	NewUsersPerMinute int           `json:"newUsersPerMinute" doc:"admit at most this many a minute as well as the capacity cap, whichever binds"`
	Paused            bool          `json:"paused" doc:"stop admission but keep the line"`
	OpensAt           time.Time     `json:"opensAt" doc:"when the pre-queue opens; joins before it get 403"`
	StartsAt          time.Time     `json:"startsAt" doc:"when admission starts and the pre-queue is shuffled in ahead of later joins"`
	EndsAt            time.Time     `json:"endsAt" doc:"when joins close (410) and the waiting sessions end"`
	Method            Method        `json:"queueingMethod" doc:"fifo, random (a lottery), passthrough (no cap) or reject (joins get 503)"`
	Message           string        `json:"message" doc:"what joins are told under reject (e.g. Sold out)"`
}

// Kind is how a setting is written and read.
type Kind string

// Kinds of settings.
const (
	KindCount    Kind = "count"    // a whole number, not negative
	KindDuration Kind = "duration" // a Go duration: 30s, 5m
	KindTime     Kind = "time"     // RFC 3339
	KindSwitch   Kind = "switch"   // true or false
	KindMethod   Kind = "method"   // a queueing method
	KindText     Kind = "text"     // free text
)

// A Setting describes one per-event setting, read from Settings' fields.
type Setting struct {
	Name  string // its name in the API and the config file: newUsersPerMinute
	Flag  string // its flag: new-users-per-minute
	Kind  Kind
	Doc   string
	index int
}

// table is Settings' fields as Settings, checked against Policy when the
// package loads.
var table = func() []Setting {
	var out []Setting
	st, pt := reflect.TypeFor[Settings](), reflect.TypeFor[Policy]()
	for i := range st.NumField() {
		f := st.Field(i)
		s := Setting{Name: f.Tag.Get("json"), Doc: f.Tag.Get("doc"), index: i}
		s.Flag = kebab(s.Name)
		switch f.Type {
		case reflect.TypeFor[int]():
			s.Kind = KindCount
		case reflect.TypeFor[time.Duration]():
			s.Kind = KindDuration
		case reflect.TypeFor[time.Time]():
			s.Kind = KindTime
		case reflect.TypeFor[bool]():
			s.Kind = KindSwitch
		case reflect.TypeFor[Method]():
			s.Kind = KindMethod
		case reflect.TypeFor[string]():
			s.Kind = KindText
		default:
			panic("room: setting " + f.Name + " has no kind for " + f.Type.String())
		}
		if pf, ok := pt.FieldByName(f.Name); !ok || pf.Type != f.Type || s.Name == "" || s.Doc == "" {
			panic("room: setting " + f.Name + " needs a json name, a doc and a Policy field of its type")
		}
		out = append(out, s)
	}
	return out
}()

// Table lists the per-event settings in their order.
func Table() []Setting { return slices.Clone(table) }

// SettingNamed finds a setting by its name, or its flag.
func SettingNamed(name string) (Setting, bool) {
	for _, s := range table {
		if s.Name == name || s.Flag == name {
			return s, true
		}
	}
	return Setting{}, false
}

// kebab spells newUsersPerMinute as new-users-per-minute and
// heartbeatTTL as heartbeat-ttl.
func kebab(name string) string {
	var b strings.Builder
	for i, r := range name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 && name[i-1] >= 'a' && name[i-1] <= 'z' {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s Setting) field(st *Settings) reflect.Value { return reflect.ValueOf(st).Elem().Field(s.index) }

// Get is the setting's value in st.
func (s Setting) Get(st Settings) any { return s.field(&st).Interface() }

// IsSet reports whether st sets it (a zero value keeps the configured one).
func (s Setting) IsSet(st Settings) bool { return !s.field(&st).IsZero() }

// Set sets the setting in st to v, of the setting's Go type.
func (s Setting) Set(st *Settings, v any) { s.field(st).Set(reflect.ValueOf(v)) }

// Copy sets the setting in dst to its value in src.
func (s Setting) Copy(dst *Settings, src Settings) { s.field(dst).Set(s.field(&src)) }

// Parse reads the setting from text, as the config file and flags give it:
// a count, a duration (30s), a time in RFC 3339, true or false, a method or
// text. "" (and "none" for a time) is the zero value: the configured one.
// With now set, a time may also be "now" or relative to it (+10m, -30s).
func (s Setting) Parse(st *Settings, text string, now time.Time) error {
	v, err := s.parse(strings.TrimSpace(text), now)
	if err != nil {
		return err
	}
	s.field(st).Set(reflect.ValueOf(v))
	return nil
}

func (s Setting) parse(text string, now time.Time) (any, error) {
	switch s.Kind {
	case KindCount:
		if text == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(text)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a whole number of at least 0", text)
		}
		return n, nil
	case KindDuration:
		if text == "" {
			return time.Duration(0), nil
		}
		d, err := time.ParseDuration(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration (e.g. 30s, 5m)", text)
		}
		return d, nil
	case KindTime:
		return parseTime(text, now)
	case KindSwitch:
		if text == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", text)
		}
		return b, nil
	case KindMethod:
		if text == "" {
			return Method(""), nil
		}
		return ParseMethod(text)
	}
	return text, nil
}

// parseTime reads RFC 3339, "none" (zero), and with now, "now" or a time
// relative to it, to the second.
func parseTime(text string, now time.Time) (time.Time, error) {
	relative := !now.IsZero()
	switch {
	case text == "" || text == "none":
		return time.Time{}, nil
	case relative && text == "now":
		return now, nil
	case relative && (strings.HasPrefix(text, "+") || strings.HasPrefix(text, "-")):
		d, err := time.ParseDuration(text)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a relative time such as +10m or -30s", text)
		}
		return now.Add(d).Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, text)
	if err != nil && relative {
		return time.Time{}, fmt.Errorf("%q is not a time: give RFC 3339 (2026-12-01T18:00:00Z), +10m or now", text)
	} else if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2026-12-01T18:00:00Z", text)
	}
	return t, nil
}

// Format writes the setting's value in st for a person: "-" when unset.
func (s Setting) Format(st Settings) string {
	if !s.IsSet(st) && s.Kind != KindSwitch && s.Kind != KindCount {
		return "-"
	}
	switch v := s.Get(st).(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	case time.Duration:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

// Overrides names the settings st sets, which differ from the configured
// policy.
func (st Settings) Overrides() []string {
	var out []string
	for _, s := range table {
		if s.IsSet(st) {
			out = append(out, s.Name)
		}
	}
	return out
}

// Merge is cur with the settings named (by name or flag) taken from given:
// what `wrctl event set` sends, changing only the flags given.
func (st Settings) Merge(given Settings, names ...string) (Settings, error) {
	for _, name := range names {
		s, ok := SettingNamed(name)
		if !ok {
			return st, fmt.Errorf("no setting %q", name)
		}
		s.Copy(&st, given)
	}
	return st, nil
}

// SettingsOf is the policy's values of every setting: what is in force.
func SettingsOf(p Policy) Settings {
	var st Settings
	pv := reflect.ValueOf(p)
	for _, s := range table {
		s.field(&st).Set(pv.FieldByName(reflect.TypeFor[Settings]().Field(s.index).Name))
	}
	return st
}

// With returns the policy with the settings' non-zero fields applied.
func (p Policy) With(st Settings) Policy {
	pv := reflect.ValueOf(&p).Elem()
	for _, s := range table {
		if s.IsSet(st) {
			pv.FieldByName(reflect.TypeFor[Settings]().Field(s.index).Name).Set(s.field(&st))
		}
	}
	return p
}

// MarshalJSON writes the settings as the API gives them: every setting,
// durations as "30s" ("" unset), times in RFC 3339 (null unset).
func (st Settings) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, s := range table {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(s.Name)
		b.Write(name)
		b.WriteByte(':')
		var v any = s.Get(st)
		switch x := v.(type) {
		case time.Duration:
			v = ""
			if x != 0 {
				v = x.String()
			}
		case time.Time:
			v = nil
			if !x.IsZero() {
				v = x.UTC().Format(time.RFC3339Nano)
			}
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b.Write(enc)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes; a setting left out, "" or
// null is zero (the configured value), and an unknown name is an error.
func (st *Settings) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	var out Settings
	for name, msg := range raw {
		s, ok := SettingNamed(name)
		if !ok || s.Name != name {
			return fmt.Errorf("json: unknown field %q", name)
		}
		if err := s.unmarshal(&out, msg); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	*st = out
	return nil
}

func (s Setting) unmarshal(st *Settings, msg json.RawMessage) error {
	if string(msg) == "null" {
		return nil
	}
	switch s.Kind {
	case KindCount:
		var n int
		if err := json.Unmarshal(msg, &n); err != nil {
			return fmt.Errorf("want a whole number, got %s", msg)
		}
		s.field(st).Set(reflect.ValueOf(n))
		return nil
	case KindSwitch:
		var b bool
		if err := json.Unmarshal(msg, &b); err != nil {
			return fmt.Errorf("want true or false, got %s", msg)
		}
		s.field(st).Set(reflect.ValueOf(b))
		return nil
	}
	var text string
	if err := json.Unmarshal(msg, &text); err != nil {
		return fmt.Errorf("want a string, got %s", msg)
	}
	if s.Kind == KindTime && text != "" {
		t, err := time.Parse(time.RFC3339Nano, text)
		if err != nil {
			return fmt.Errorf("%q is not an RFC 3339 time such as 2026-12-01T18:00:00Z", text)
		}
		s.field(st).Set(reflect.ValueOf(t))
		return nil
	}
	return s.Parse(st, text, time.Time{})
}
