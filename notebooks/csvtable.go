package notebooks

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
)

// csvTable is a committed CSV read back by column name, for the README summaries that quote it
// (TestReadmeNumbersMatchTheirCSV keeps those texts equal to the numbers).
type csvTable struct {
	file string
	col  map[string]int
	rows [][]string
}

// readCSVTable parses text (the contents of file) and requires a header, at least one data row and
// the named columns.
func readCSVTable(file, text string, required ...string) (*csvTable, error) {
	records, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(records) < 2 {
		return nil, fmt.Errorf("%s has no data rows", file)
	}
	t := &csvTable{file: file, col: map[string]int{}, rows: records[1:]}
	for i, name := range records[0] {
		t.col[name] = i
	}
	for _, name := range required {
		if _, ok := t.col[name]; !ok {
			return nil, fmt.Errorf("%s has no column %s", file, name)
		}
	}
	return t, nil
}

// text is row's cell in the named column.
func (t *csvTable) text(row []string, name string) (string, error) {
	i, ok := t.col[name]
	if !ok || i >= len(row) {
		return "", fmt.Errorf("%s has no column %s", t.file, name)
	}
	return row[i], nil
}

// number is row's cell in the named column as a number.
func (t *csvTable) number(row []string, name string) (float64, error) {
	s, err := t.text(row, name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%s, column %s: %q is not a number", t.file, name, s)
	}
	return v, nil
}
