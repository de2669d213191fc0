package crontrigger

import (
	"testing"
	"time"
)

func mustParse(t *testing.T, s, tz string) Schedule {
	t.Helper()
	sched, err := Parse(s, tz)
	if err != nil {
		t.Fatal(err)
	}
	return sched
}

func TestParseNext(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 15, 7, 500, time.UTC) // a Monday
	tests := []struct {
		schedule, tz string
		want         time.Time
	}{
		{"@every 30s", "", time.Date(2026, 3, 2, 10, 15, 30, 0, time.UTC)},
		{"@every 1s", "", time.Date(2026, 3, 2, 10, 15, 8, 0, time.UTC)},
		{"@hourly", "", time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)},
		{"*/5 * * * *", "", time.Date(2026, 3, 2, 10, 20, 0, 0, time.UTC)},
		{"0 30 9 * * *", "", time.Date(2026, 3, 3, 9, 30, 0, 0, time.UTC)},
		{"0 30 11 * * *", "Europe/Paris", time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)},
		{"CRON_TZ=America/New_York 0 6 * * *", "", time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got := mustParse(t, tt.schedule, tt.tz).Next(at)
		if !got.Equal(tt.want) {
			t.Errorf("%s (%s): next %s, want %s", tt.schedule, tt.tz, got.UTC(), tt.want)
		}
	}
}

// Two nodes asking at different moments compute the same @every ticks.
func TestEveryIsAligned(t *testing.T) {
	s := mustParse(t, "@every 30s", "")
	a := s.Next(time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC))
	b := s.Next(time.Date(2026, 1, 1, 0, 0, 12, 0, time.UTC))
	if !a.Equal(b) {
		t.Fatalf("%s != %s", a, b)
	}
}

func TestMissed(t *testing.T) {
	hourly := mustParse(t, "@hourly", "")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		policy    string
		last, now time.Time
		want      time.Time
	}{
		{"none missed", MissedLast, base, base.Add(59 * time.Minute), time.Time{}},
		{"one missed", MissedLast, base, base.Add(90 * time.Minute), base.Add(time.Hour)},
		{"many missed: the latest once", MissedLast, base, base.Add(5*time.Hour + time.Minute), base.Add(5 * time.Hour)},
		{"skip", MissedSkip, base, base.Add(5 * time.Hour), time.Time{}},
		{"never fired", MissedLast, time.Time{}, base, time.Time{}},
		{"long outage of a frequent schedule", MissedLast, base, base.Add(400 * 24 * time.Hour), base.Add(400 * 24 * time.Hour)},
	}
	for _, tt := range tests {
		if got := Missed(hourly, tt.policy, tt.last, tt.now); !got.Equal(tt.want) {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	every := mustParse(t, "@every 1s", "")
	if got, want := Missed(every, MissedLast, base, base.Add(72*time.Hour+time.Millisecond)), base.Add(72*time.Hour); !got.Equal(want) {
		t.Errorf("1s over 3 days: got %s, want %s", got, want)
	}
}

func TestLeaseKey(t *testing.T) {
	if got := LeaseKey("tick", time.Unix(1700000000, 0)); got != "tick.1700000000" {
		t.Fatal(got)
	}
}
