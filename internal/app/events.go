package app

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wrctl/wrctl/internal/room"
)

// EventSettings are one event's settings in the config file's events
// section: any of room's per-event settings (events.<id>.capacity, by the
// names of room.Table), and whether the event is public.
type EventSettings struct {
	room.Settings
	// Public lists the event in GET /api/waiting-room/events before anyone
	// joins it (its schedule included); other events are listed only while
	// they have sessions.
	Public bool
}

// ParseEvents reads the events section of a config file, a setting at
// fault being a FieldError. It is read apart from the rest because event
// ids are case-sensitive.
func ParseEvents(yamlDoc []byte) (map[string]EventSettings, error) {
	var doc struct {
		Events map[string]map[string]yaml.Node `yaml:"events"`
	}
	if err := yaml.Unmarshal(yamlDoc, &doc); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	var errs FieldErrors
	out := make(map[string]EventSettings, len(doc.Events))
	for id, keys := range doc.Events {
		var e EventSettings
		for name, node := range keys {
			key := "events." + id + "." + name
			if err := e.set(name, node.Value); err != nil {
				errs = append(errs, &FieldError{Key: key, Msg: err.Error()})
			}
		}
		out[id] = e
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b *FieldError) int { return strings.Compare(a.Key, b.Key) })
		return nil, errs
	}
	return out, nil
}

// set reads one key of an event's section.
func (e *EventSettings) set(name, text string) error {
	if name == "public" {
		b, err := strconv.ParseBool(text)
		e.Public = b
		if err != nil {
			return fmt.Errorf("%q is not true or false", text)
		}
		return nil
	}
	st, ok := room.SettingNamed(name)
	if !ok || st.Name != name {
		var names []string
		for _, s := range room.Table() {
			names = append(names, s.Name)
		}
		return fmt.Errorf("unknown setting (an event takes %s and public)", strings.Join(names, ", "))
	}
	if err := st.Parse(&e.Settings, text, time.Time{}); err != nil {
		return err
	}
	if !st.IsSet(e.Settings) && st.Kind != room.KindSwitch {
		return fmt.Errorf("%q would keep the room's value: leave the key out instead", text)
	}
	return nil
}
