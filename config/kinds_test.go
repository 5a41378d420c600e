package config

import (
	"encoding"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// keysOfType lists the keys of the file whose value is of type t, as
// written in the documentation ("relay.insecure").
func keysOfType(t *testing.T, want reflect.Type) []string {
	t.Helper()
	var keys []string
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for f := range typ.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			switch {
			case tag == "" || tag == "-":
			case f.Type == want:
				keys = append(keys, prefix+tag)
			case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]():
				walk(f.Type, prefix+tag+".")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	if len(keys) == 0 {
		t.Fatalf("no key of type %v", want)
	}
	return keys
}

// setting is a file that sets key (as "relay.insecure") to value.
func setting(key, value string) string {
	if table, k, ok := strings.Cut(key, "."); ok {
		return "[" + table + "]\n" + k + " = " + value + "\n"
	}
	return key + " = " + value + "\n"
}

// A boolean key written with a value of another kind says what to
// write, as the other keys' type errors do.
func TestBooleanKeysSayTrueOrFalse(t *testing.T) {
	for _, key := range keysOfType(t, reflect.TypeFor[bool]()) {
		for value, have := range map[string]string{`"yes"`: "a string", "1": "a number", `["a"]`: "a list"} {
			body := setting(key, value)
			_, err := load(t, body)
			want := key + ": must be true or false (as true), not " + have
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: %v\nwant %q", body, err, want)
			}
		}
	}
}

// No key's type error leaves the kind unnamed: each says what the key
// takes and what the file gave, a date and a time included.
func TestTypeErrorsNameTheKinds(t *testing.T) {
	names := keyNames()
	for key := range names {
		if names[key] && isTableName(names, key) {
			continue
		}
		for _, value := range []string{`"yes"`, "1", "1.5", "true", `["a"]`, "2024-01-01", "2024-01-01T12:00:00Z", "12:00:00", "{a = 1}"} {
			body := setting(key, value)
			if _, err := load(t, body); err != nil && strings.Contains(err.Error(), "another kind") {
				t.Errorf("%q: %v", body, err)
			}
		}
	}
	body := setting("deliver_without_agent", "2024-01-01")
	if _, err := load(t, body); err == nil || !strings.Contains(err.Error(), "must be true or false (as true), not a date or time") {
		t.Errorf("%q: %v", body, err)
	}
}

// isTableName reports whether key names a table, as relay does.
func isTableName(names map[string]bool, key string) bool {
	for k := range names {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// Every duration key's error shows how a duration is written, whatever
// is wrong with the value: a unit spelt out, a word, a list.
func TestDurationKeysShowHowToWriteOne(t *testing.T) {
	const hint = "(use e.g. 90s, 10m, 2h, 5d)"
	for _, key := range keysOfType(t, reflect.TypeFor[Duration]()) {
		for _, value := range []string{`"5 days"`, `"5days"`, `"1d 12h"`, `"xyz"`, `"1d12x"`, "10", `["10m"]`, "{a = 1}"} {
			body := setting(key, value)
			_, err := load(t, body)
			if err == nil || !strings.Contains(err.Error(), key+": ") || !strings.Contains(err.Error(), hint) {
				t.Errorf("%q: %v\nwant %q", body, err, hint)
			}
		}
	}
	// The decoder's own words name Go's types, not the file's.
	for key := range keyNames() {
		for _, value := range []string{`["a"]`, "{a = 1}", "2024-01-01"} {
			body := setting(key, value)
			if _, err := load(t, body); err != nil && strings.Contains(err.Error(), "destination has type") {
				t.Errorf("%q: %v", body, err)
			}
		}
	}
}

// The decoder names the type of a key that reads its value from text
// only as "primitive (string-like)", which the type errors call a
// duration: Duration must stay the only such type in the file.
func TestDurationIsTheOnlyTextKey(t *testing.T) {
	text := reflect.TypeFor[encoding.TextUnmarshaler]()
	own := reflect.TypeFor[toml.Unmarshaler]()
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for f := range typ.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			p := reflect.PointerTo(f.Type)
			if p.Implements(text) && !p.Implements(own) && f.Type != reflect.TypeFor[Duration]() {
				t.Errorf("%s%s is a %v, read from text: its type errors would call it a duration", prefix, tag, f.Type)
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
				walk(f.Type, prefix+tag+".")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
}
