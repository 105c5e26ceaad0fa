package platformapi

import (
	"encoding/json"

	"gopkg.in/yaml.v3"
)

func yamlToJSON(y []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(y, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
