package apitest_test

import (
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// errBody is the error body of every 4xx and 5xx.
type errBody = servicetest.Error
