package topiclog

import (
	"fmt"

	"github.com/logstream/logstream/pkg/defaults"
)

// MaxTopicName bounds a topic name (it becomes a directory name).
const MaxTopicName = defaults.MaxTopicName

var topicRule = fmt.Sprintf("must be 1..%d characters of [A-Za-z0-9._-] and not \".\" or \"..\"", MaxTopicName)

// ValidTopicName reports whether name can be a topic: 1..200 characters of
// [A-Za-z0-9._-], and not "." or "..", so it is always a safe directory name.
func ValidTopicName(name string) error {
	if len(name) == 0 || len(name) > MaxTopicName || name == "." || name == ".." {
		return fmt.Errorf("topic name %q %s", name, topicRule)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("topic name %q %s", name, topicRule)
		}
	}
	return nil
}
