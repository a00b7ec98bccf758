package main

// A run's log file and its size policy, written to real files, from memory and from a real process.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// numberedLines gives count numbered lines of 12 bytes each: "line 000001\n"…
func numberedLines(count int) []byte {
	var text bytes.Buffer
	for i := 1; i <= count; i++ {
		fmt.Fprintf(&text, "line %06d\n", i)
	}
	return text.Bytes()
}

// writeLog writes output in chunks of uneven sizes, so that one chunk straddles the limit.
func writeLog(t *testing.T, file string, limitBytes int64, output []byte) *AttemptLog {
	t.Helper()
	log, err := NewAttemptLog(file, limitBytes)
	if err != nil {
		t.Fatal(err)
	}
	for at, size := 0, 1; at < len(output); at, size = at+size, (size*7)%9_973+1 {
		log.Write(output[at:min(len(output), at+size)])
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	return log
}

func readAll(t *testing.T, file string) []byte {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func TestOutputUpToTheLimitIsKeptWholeWithNoMarker(t *testing.T) {
	file := filepath.Join(t.TempDir(), "attempt.log")
	output := numberedLines(1_000)
	writeLog(t, file, int64(len(output)), output)
	expectEqual(t, string(readAll(t, file)), string(output))
}

func TestPastTheLimitTheBytesUpToItAMarkerThenTheLast64KiB(t *testing.T) {
	file := filepath.Join(t.TempDir(), "attempt.log")
	output := numberedLines(25_000)
	limitBytes := 100_000
	writeLog(t, file, int64(limitBytes), output)

	kept := readAll(t, file)
	marker := fmt.Sprintf("\n[staged] output passed the log limit of 0.1 MiB: %d bytes were not kept; "+
		"the last %d bytes follow\n", len(output)-limitBytes, tailBytes)
	expectEqual(t, string(kept[:limitBytes]), string(output[:limitBytes]))
	expectEqual(t, string(kept[limitBytes:limitBytes+len(marker)]), marker)
	expectEqual(t, string(kept[limitBytes+len(marker):]), string(output[len(output)-tailBytes:]))
}

func TestTheLastLinesAreThoseOfTheOutputWholeWhateverTheFileKept(t *testing.T) {
	log := writeLog(t, filepath.Join(t.TempDir(), "attempt.log"), 10_000, numberedLines(25_000))
	expectEqual(t, strings.Join(log.LastLines(3), ","), "line 024998,line 024999,line 025000")
	// The tail starts inside a line: that cut line is never given.
	whole := regexp.MustCompile(`^line \d{6}$`)
	for _, line := range log.LastLines(100_000) {
		if !whole.MatchString(line) {
			t.Fatalf("a cut line given: %q", line)
		}
	}
}

func TestALineLongerThanTheTailGivesItsEndSaidToBeCut(t *testing.T) {
	output := []byte("start\n" + strings.Repeat("z", 2*tailBytes) + "END")
	log := writeLog(t, filepath.Join(t.TempDir(), "attempt.log"), 1024*1024, output)
	lines := log.LastLines(20)
	expectEqual(t, len(lines), 1)
	expectEqual(t, strings.HasPrefix(lines[0], "…zzz") && strings.HasSuffix(lines[0], "zzzEND"), true)
}

func TestShortOutputGivesAllItsLinesWhicheverLineEndingEachHas(t *testing.T) {
	output := []byte("first\r\nsecond\rthird\nlast without newline")
	log := writeLog(t, filepath.Join(t.TempDir(), "attempt.log"), 1024*1024, output)
	expectEqual(t, strings.Join(log.LastLines(20), "|"), "first|second|third|last without newline")
	expectEqual(t, strings.Join(log.LastLines(2), "|"), "third|last without newline")
	expectEqual(t, len(writeLog(t, filepath.Join(t.TempDir(), "empty.log"), 1024, nil).LastLines(20)), 0)
}

func TestTheLimitIsSaidAsJavaScriptsToFixedSaysIt(t *testing.T) {
	expectEqual(t, toFixed1(0.25), "0.3")
	expectEqual(t, toFixed1(1), "1.0")
	expectEqual(t, toFixed1(100_000.0/1024/1024), "0.1")
	expectEqual(t, toFixed1(64), "64.0")
}

func TestARealProcesssFloodCostsTheFileNoMoreThanTheLimitAndTheTail(t *testing.T) {
	file := filepath.Join(t.TempDir(), "attempt.log")
	limitBytes := int64(1024 * 1024)
	flood := exec.Command("/bin/sh", "-c", "yes 0123456789abcdef | head -c 17000000; echo the end")
	stdout, err := flood.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	log, err := NewAttemptLog(file, limitBytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	io.CopyBuffer(log, stdout, make([]byte, 64*1024))
	flood.Wait()
	log.Close()

	size := int64(len(readAll(t, file)))
	if size <= limitBytes+tailBytes || size >= limitBytes+tailBytes+1_000 {
		t.Fatalf("a log of %d bytes", size)
	}
	expectEqual(t, strings.Join(log.LastLines(1), ""), "the end")
	expectEqual(t, strings.HasSuffix(string(readAll(t, file)), "0123456789abcdef\nthe end\n"), true)
}
