package main

// A run's log file with a size policy: the first limitBytes of output are kept; past that, only the last lines
// are, appended at the end after a marker saying how much was dropped. The last lines are always in memory too,
// for the failure message, so a flood never costs more than that.

import (
	"fmt"
	"math"
	"os"
	"strconv"
)

const tailBytes = 64 * 1024

type AttemptLog struct {
	file       *os.File
	limitBytes int64
	written    int64
	dropped    int64
	tail       []byte
}

func NewAttemptLog(path string, limitBytes int64) (*AttemptLog, error) {
	file, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &AttemptLog{file: file, limitBytes: limitBytes}, nil
}

func (log *AttemptLog) Write(chunk []byte) (int, error) {
	log.keepTail(chunk)
	room := max(0, log.limitBytes-log.written)
	kept := chunk[:min(int64(len(chunk)), room)]
	log.dropped += int64(len(chunk) - len(kept))
	log.written += int64(len(kept))
	if len(kept) > 0 {
		if _, err := log.file.Write(kept); err != nil {
			return 0, err
		}
	}
	return len(chunk), nil
}

// Close appends the marker and the tail when output passed the limit.
func (log *AttemptLog) Close() error {
	if log.dropped > 0 {
		limitMiB := toFixed1(float64(log.limitBytes) / 1024 / 1024)
		fmt.Fprintf(log.file, "\n[staged] output passed the log limit of %s MiB: %d bytes were not kept; "+
			"the last %d bytes follow\n", limitMiB, log.dropped, len(log.tail))
		log.file.Write(log.tail)
	}
	return log.file.Close()
}

// LastLines gives the last count lines of output, whatever the log file kept.
func (log *AttemptLog) LastLines(count int) []string {
	lines := lineBreak.Split(decodeUTF8(log.tail), -1)
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if log.written+log.dropped > int64(len(log.tail)) && len(lines) > 0 {
		if len(lines) == 1 {
			lines[0] = "…" + lines[0] // one line longer than the tail: its end, said to be cut, rather than nothing
		} else {
			lines = lines[1:] // probably cut
		}
	}
	return lines[max(0, len(lines)-count):]
}

func (log *AttemptLog) keepTail(chunk []byte) {
	if len(chunk) >= tailBytes {
		log.tail = append([]byte(nil), chunk[len(chunk)-tailBytes:]...)
		return
	}
	from := max(0, len(log.tail)+len(chunk)-tailBytes)
	log.tail = append(append(make([]byte, 0, len(log.tail)-from+len(chunk)), log.tail[from:]...), chunk...)
}

// toFixed1 is JavaScript's toFixed(1): of two nearest tenths, the larger.
func toFixed1(value float64) string {
	tenths := value * 10
	if tenths-math.Floor(tenths) == 0.5 {
		whole := int64(math.Floor(tenths)) + 1
		return fmt.Sprintf("%d.%d", whole/10, whole%10)
	}
	return strconv.FormatFloat(value, 'f', 1, 64)
}
