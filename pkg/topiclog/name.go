package topiclog

import "fmt"

// MaxTopicName bounds a topic name (it becomes a directory name).
const MaxTopicName = 200

// ValidTopicName reports whether name can be a topic: 1..200 characters of
// [A-Za-z0-9._-], and not "." or "..", so it is always a safe directory name.
func ValidTopicName(name string) error {
	const rule = "must be 1..200 characters of [A-Za-z0-9._-] and not \".\" or \"..\""
	if len(name) == 0 || len(name) > MaxTopicName || name == "." || name == ".." {
		return fmt.Errorf("topic name %q %s", name, rule)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("topic name %q %s", name, rule)
		}
	}
	return nil
}
