package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// chromium finds the browser: $CHROME_PATH, then Debian's and the usual
// names on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium found and CI is set: install it (apt-get install chromium) or set CHROME_PATH")
	}
	t.Skip("no Chromium found (looked for chromium, chromium-browser, google-chrome; set CHROME_PATH): the console's browser tests are skipped")
	return ""
}

// browser is one headless Chromium shared by the tests of a run.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string // SCREENSHOTS_DIR: save every screen there
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: base, shots: os.Getenv("SCREENSHOTS_DIR")}
}

// tab is one browser tab of a test; a failing test leaves a screenshot.
type tab struct {
	t   *testing.T
	b   *browser
	ctx context.Context
}

func (b *browser) tab(t *testing.T) *tab {
	ctx, cancel := chromedp.NewContext(b.ctx)
	tb := &tab{t: t, b: b, ctx: ctx}
	t.Cleanup(func() {
		if t.Failed() {
			dir := os.Getenv("BROWSER_ARTIFACTS")
			if dir == "" {
				dir = filepath.Join(os.TempDir(), "rulekeeper-browser")
			}
			_ = os.MkdirAll(dir, 0o755)
			c, stop := context.WithTimeout(ctx, 5*time.Second)
			if png, err := chromedp.Run(c, chromedp.CaptureScreenshot()); err == nil {
				p := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".png")
				if os.WriteFile(p, png, 0o644) == nil {
					t.Logf("screenshot of the failure: %s", p)
				}
			}
			stop()
		}
		cancel()
	})
	// The first run on a tab opens it for the lifetime of its context: no timeout.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tb
}

// run performs actions with a deadline and fails the test naming what.
func (tb *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		body := tb.page()
		tb.t.Fatalf("%s: %v\npage: %s", what, err, body)
	}
}

// page is the URL and the start of the page's text, for failure messages.
func (tb *tab) page() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + document.body?.innerText.slice(0, 800) +
		'\n…\n' + (document.querySelector('main')?.innerText ?? document.body?.innerText ?? '').slice(-1500)`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// untilTimeout is how long until waits: generous, since make test runs
// this suite beside other test binaries on two cores.
const untilTimeout = 30 * time.Second

// until polls a JavaScript expression until it is true.
func (tb *tab) until(what, js string) {
	tb.t.Helper()
	deadline := time.Now().Add(untilTimeout)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body := tb.page()
			tb.t.Fatalf("%s: not true after %s: %s (err %v)\npage: %s", what, untilTimeout, js, err, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// shot saves the screen as SCREENSHOTS_DIR/name.png and checks that the
// page does not scroll sideways at 1280×800.
func (tb *tab) shot(name string, scrollTo ...string) {
	tb.t.Helper()
	for _, sel := range scrollTo {
		tb.until("scroll to "+sel, fmt.Sprintf(`(e => !!e && (e.scrollIntoView({block: 'center'}), true))(document.querySelector(%q))`, sel))
	}
	tb.until("no horizontal scroll on "+name, `document.documentElement.scrollWidth <= window.innerWidth`)
	if tb.b.shots == "" {
		return
	}
	time.Sleep(150 * time.Millisecond) // let the last paint settle
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(tb.b.shots, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// go sets the console's route without reloading (the token is in memory).
func (tb *tab) goTo(hash, h1 string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`location.hash = %q`, hash))); err != nil {
		tb.t.Fatalf("go to %s: %v", hash, err)
	}
	tb.until("the "+h1+" screen", fmt.Sprintf(`document.querySelector('main h1')?.textContent.startsWith(%q)`, h1))
}

func button(name string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//button[normalize-space(.)=%q]`, name))
}

// labelled is the control of the field labelled name.
func labelled(name string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//label[normalize-space(.)=%q]/following-sibling::*[1]`, name))
}

// logLoad logs what the page transferred (compressed, as on the wire) and
// when it became interactive (the console marks it), from the browser's
// performance timeline. Figures only: no assertion on timing.
func (tb *tab) logLoad(what string) {
	tb.t.Helper()
	tb.until("interactive", `performance.getEntriesByName('console-interactive').length > 0`)
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const nav = performance.getEntriesByType('navigation')[0];
		const res = performance.getEntriesByType('resource');
		const bytes = nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0);
		const decoded = nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0);
		const tti = performance.getEntriesByName('console-interactive')[0].startTime;
		return (1 + res.length) + ' requests, ' + bytes + ' bytes transferred (' + decoded + ' decoded), interactive after ' + Math.round(tti) + ' ms';
	})()`))
	if err != nil {
		tb.t.Fatalf("performance figures: %v", err)
	}
	tb.t.Logf("first load of %s: %s", what, s)
}

// signIn goes through the OIDC login as user: the console's Sign in, the
// dev issuer's login page, the code exchange.
func (tb *tab) signIn(user string, shots bool) {
	tb.t.Helper()
	tb.run("open the console", chromedp.Navigate(tb.b.base+"/console/"), chromedp.WaitVisible(button("Sign in")))
	if shots {
		tb.logLoad("the sign-in screen")
		tb.shot("01-sign-in")
	}
	tb.run("press Sign in", chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(button("Sign in as "+user)))
	if shots {
		tb.shot("02-dev-login")
	}
	tb.run("pick "+user, chromedp.Click(button("Sign in as "+user)))
	tb.until("signed in", fmt.Sprintf(`document.getElementById('who')?.textContent.includes('Signed in as %s')`, user))
}

func TestConsole(t *testing.T) {
	d := servicetest.Dev(t)
	b := newBrowser(t, d.URL())
	if b.shots != "" {
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const ruleName = "Alice reads drafts"

	t.Run("admin writes, previews, saves and audits a rule", func(t *testing.T) {
		tb := b.tab(t)
		tb.signIn("admin", true)
		tb.until("the rules list", `document.body.dataset.ready === 'true' && !!document.querySelector('table.rules tbody tr')`)
		tb.logLoad("the rules list, after sign-in")
		tb.shot("03-rules")

		tb.run("new rule", chromedp.Click(chromedp.Search(`//a[normalize-space(.)="New rule"]`)),
			chromedp.WaitVisible(button("Advanced")))
		tb.shot("04-editor-basic")
		tb.run("name it", chromedp.SendKeys(labelled("Name"), ruleName),
			chromedp.Click(button("Advanced")), chromedp.WaitVisible(chromedp.CSS(`#condition`)))
		line2 := `and resource.name like "Q2 draft`
		tb.run("type an unclosed string", chromedp.SendKeys(chromedp.CSS(`#condition`), `user.name = "alice"`+"\n"+line2))
		col := strings.Index(line2, `"`) + 1
		where := fmt.Sprintf("Line 2, column %d", col)
		tb.until("the diagnostic is listed at its line and column",
			fmt.Sprintf(`[...document.querySelectorAll('#diagnostics li')].some(li => li.textContent.includes(%q) && /unterminated string/i.test(li.textContent))`, where))
		tb.until("the diagnostic is marked in the text", fmt.Sprintf(
			`(m => !!m && m.textContent.startsWith('"Q2'))(document.querySelector('.backdrop mark[data-line="2"][data-column="%d"]'))`, col))
		if v := tb.text(`#validity`); !strings.Contains(v, "error") {
			t.Fatalf("validity %q, want errors", v)
		}
		tb.shot("05-editor-diagnostic", `#condition`)

		tb.run("close the string", chromedp.SendKeys(chromedp.CSS(`#condition`), `*"`))
		tb.until("valid", `document.getElementById('validity').textContent === 'Valid' && !document.querySelector('.backdrop mark')`)

		tb.run("preview", chromedp.Click(button("Preview")))
		tb.until("alice gains read on carol's Q2 draft", `[...document.querySelectorAll('#results table.preview tbody tr')].some(tr => {
			const c = [...tr.cells].map(x => x.textContent.trim());
			return c[0] === 'alice' && c[1].startsWith('Q2 draft') && c[2] === 'read' && c[4] === 'gains';
		})`)
		tb.shot("06-preview", `#results`)
		tb.run("impact", chromedp.Click(button("Impact")))
		tb.until("impact lists the gain with the responsible rule", fmt.Sprintf(`[...document.querySelectorAll('#results table.gain tbody tr')].some(tr => {
			const c = [...tr.cells].map(x => x.textContent.trim());
			return c[0] === 'alice' && c[1].startsWith('Q2 draft') && c[2] === 'read' && c[4].includes(%q);
		})`, ruleName))
		tb.shot("07-impact", `#results`)

		tb.run("save", chromedp.Click(button("Save")))
		tb.until("back on the list", `location.hash === '#/rules' && !!document.querySelector('table.rules')`)
		tb.run("search the list", chromedp.SendKeys(labelled("Search rules"), "drafts"))
		tb.until("the rule is in the list", fmt.Sprintf(
			`(rows => rows.length === 1 && rows[0].cells[1].textContent === %q && rows[0].cells[3].textContent === 'read')([...document.querySelectorAll('table.rules tbody tr[data-rule]')])`, ruleName))

		tb.run("pick it", chromedp.Click(chromedp.CSS(`table.rules tbody tr[data-rule] input[type=checkbox]`)),
			chromedp.Click(button("Impact of disabling")))
		tb.until("disabling it loses alice read on Q2 draft", fmt.Sprintf(`[...document.querySelectorAll('#results table.loss tbody tr')].some(tr => {
			const c = [...tr.cells].map(x => x.textContent.trim());
			return c[0] === 'alice' && c[1].startsWith('Q2 draft') && c[2] === 'read' && c[4].includes(%q);
		})`, ruleName))
		tb.shot("03b-pending-impact", `#results`)

		tb.goTo("#/audit", "Audit")
		tb.run("pick alice", chromedp.SetValue(labelled("Users"), d.Users["alice"].ID),
			chromedp.Click(button("Show matrix")))
		tb.until("the matrix names the rule for alice × Q2 draft × read", fmt.Sprintf(
			`(td => !!td && td.classList.contains('allow') && td.title.includes(%q) && td.textContent.includes(%q))(document.querySelector('tr[data-user="alice"][data-resource="Q2 draft"] td[data-action="read"]'))`,
			ruleName, ruleName))
		tb.shot("08-audit", `tr[data-user="alice"][data-resource="Q2 draft"]`)
	})

	t.Run("a conflicting edit is shown", func(t *testing.T) {
		var list struct {
			Items []struct {
				ID, Name string
				Version  int64
			}
		}
		d.Call("admin", "GET", "/api/v1/rules?q=drafts", nil, &list)
		if len(list.Items) != 1 {
			t.Fatalf("rules found: %+v (the previous test saves it)", list.Items)
		}
		id := list.Items[0].ID
		tb := b.tab(t)
		tb.signIn("admin", false)
		tb.goTo("#/rules/"+id, "Edit rule")
		tb.until("the stored rule validates", `document.getElementById('validity')?.textContent === 'Valid'`)
		// Meanwhile, somebody changes the rule through the API.
		res := d.Do("admin", "PUT", "/api/v1/rules/"+id, map[string]any{"name": ruleName, "description": "changed by the API",
			"resourceFilter": "App_*", "condition": `user.name = "alice" and resource.name like "Q2*"`, "actions": []string{"read"}},
			map[string]string{"If-Match": fmt.Sprintf(`"%d"`, list.Items[0].Version)})
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("PUT through the API = %d", res.StatusCode)
		}
		tb.run("edit and save", chromedp.SendKeys(labelled("Description"), "mine"),
			chromedp.Click(button("Save")))
		tb.until("the conflict is shown", `document.querySelector('.conflict')?.textContent.includes('changed by someone else')`)
		tb.shot("09-conflict")
		tb.run("reload", chromedp.Click(button("Reload")))
		tb.until("the other version is loaded", fmt.Sprintf(`document.evaluate(%q, document, null, 9, null).singleNodeValue?.value === 'changed by the API'`, string(labelled("Description"))))
	})

	t.Run("the Basic view builds a condition; delete asks first", func(t *testing.T) {
		tb := b.tab(t)
		tb.signIn("admin", false)
		tb.goTo("#/rules/new", "New security rule")
		tb.run("fill the Basic view", chromedp.SendKeys(labelled("Name"), "Sales reads apps"),
			chromedp.SendKeys(labelled("Value"), "Sales"))
		tb.until("valid", `document.getElementById('validity').textContent === 'Valid'`)
		tb.run("look at the text", chromedp.Click(button("Advanced")))
		tb.until("the row became the condition", `document.getElementById('condition').value === 'user.group = "Sales"'`)
		tb.run("type a partial attribute", chromedp.SendKeys(chromedp.CSS(`#condition`), " and user.em"),
			chromedp.Click(button("user.email")))
		tb.until("the suggestion is inserted", `document.getElementById('condition').value === 'user.group = "Sales" and user.email'`)
		tb.run("finish the comparison", chromedp.SendKeys(chromedp.CSS(`#condition`), ` like "*@example.com"`))
		tb.until("valid again", `document.getElementById('validity').textContent === 'Valid'`)
		tb.run("save", chromedp.Click(button("Save")))
		tb.until("saved", `location.hash === '#/rules'`)
		var list struct {
			Items []struct{ ID, Condition string }
		}
		d.Call("admin", "GET", "/api/v1/rules?q=sales+reads+apps", nil, &list)
		if len(list.Items) != 1 || list.Items[0].Condition != `user.group = "Sales" and user.email like "*@example.com"` {
			t.Fatalf("stored: %+v", list.Items)
		}
		tb.goTo("#/rules/"+list.Items[0].ID, "Edit rule")
		tb.run("delete", chromedp.Click(button("Delete")),
			chromedp.WaitVisible(chromedp.Search(`//dialog//button[normalize-space(.)="Cancel"]`)))
		tb.shot("16-delete-confirm")
		tb.run("confirm", chromedp.Click(chromedp.Search(`//dialog//button[normalize-space(.)="Delete"]`)))
		tb.until("back on the list", `location.hash === '#/rules'`)
		if status := d.Call("admin", "GET", "/api/v1/rules/"+list.Items[0].ID, nil, nil); status != 404 {
			t.Fatalf("the rule is still there: %d", status)
		}
	})

	t.Run("impact pages through a long list", func(t *testing.T) {
		tb := b.tab(t)
		tb.signIn("admin", false)
		tb.goTo("#/rules/new", "New security rule")
		tb.run("a rule for everybody on every app", chromedp.SendKeys(labelled("Name"), "Everybody everything"),
			chromedp.Click(button("Advanced")), chromedp.WaitVisible(chromedp.CSS(`#condition`)),
			chromedp.SendKeys(chromedp.CSS(`#condition`), `user.name like "*"`))
		for _, a := range []string{"update", "delete", "export", "duplicate", "reload", "publish"} {
			tb.run("check "+a, chromedp.Click(chromedp.CSS(fmt.Sprintf(`fieldset.actions input[value=%q]`, a))))
		}
		tb.until("valid", `document.getElementById('validity').textContent === 'Valid'`)
		tb.run("impact", chromedp.Click(button("Impact")))
		gained := `document.querySelectorAll('#results table.gain tbody tr')`
		tb.until("the first page of more than one", fmt.Sprintf(`%s.length === 50 &&
			/Access gained \((\d+)\)/.test(document.querySelector('#results').textContent) &&
			+document.querySelector('#results').textContent.match(/Access gained \((\d+)\)/)[1] > 50`, gained))
		first := tb.text(`#results table.gain tbody tr`)
		tb.run("next page", chromedp.Click(chromedp.Search(`//button[@aria-label="Next page of access gained"]`)))
		tb.until("the second page", fmt.Sprintf(`(rows => rows.length > 0 && rows[0].textContent !== %q)(%s)`, first, gained))
		tb.until("its range is shown", `[...document.querySelectorAll('#results .pager')].some(p => p.textContent.includes('51–'))`)
	})

	t.Run("check access explains a license gate", func(t *testing.T) {
		tb := b.tab(t)
		tb.signIn("admin", false)
		tb.goTo("#/check", "Check access")
		tb.run("ask whether grace may create an app",
			chromedp.SendKeys(labelled("Subject"), "grace"),
			chromedp.SetValue(labelled("Action"), "create"),
			chromedp.SetValue(labelled("Resource type"), "app"),
			chromedp.Click(button("Check")))
		tb.until("denied by the license gate", `document.getElementById('verdict')?.textContent === 'Denied' &&
			document.querySelector('#decision .denies').textContent.includes('has no license')`)
		tb.shot("10-check-access")
	})

	t.Run("the other screens load", func(t *testing.T) {
		tb := b.tab(t)
		tb.signIn("admin", false)
		tb.goTo("#/users", "Users & licenses")
		tb.until("license bars and users", `document.querySelectorAll('progress').length >= 2 && document.querySelectorAll('table.users tbody tr').length >= 8`)
		tb.shot("11-users-licenses")
		tb.goTo("#/spaces", "Spaces")
		tb.run("members", chromedp.Click(button("Members")))
		tb.until("members listed", `document.querySelectorAll('#members tbody tr').length > 0`)
		tb.shot("12-spaces", `#members`)
		tb.goTo("#/events", "Events")
		tb.until("events listed", `[...document.querySelectorAll('table.events tbody tr')].some(tr => tr.textContent.includes('rule.'))`)
		tb.shot("13-events")
		tb.goTo("#/api-keys", "API keys")
		tb.run("create a key", chromedp.SendKeys(labelled("Description"), "reporting service"),
			chromedp.Click(button("Create key")))
		tb.until("the secret is shown once", `document.getElementById('secret-value')?.value.length > 20`)
		tb.shot("14-api-keys")
	})

	t.Run("a user without console access sees why (signed in by keyboard)", func(t *testing.T) {
		tb := b.tab(t)
		tb.run("open the console", chromedp.Navigate(tb.b.base+"/console/"), chromedp.WaitVisible(button("Sign in")))
		tb.until("Sign in has the focus", `document.activeElement?.textContent === 'Sign in'`)
		tb.run("Enter", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(button("Sign in as alice")))
		// The demo users are the page's first controls: admin, then alice.
		tb.run("Tab, Tab, Enter", chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab))
		tb.until("alice has the focus", `document.activeElement?.textContent === 'Sign in as alice'`)
		tb.run("Enter", chromedp.KeyEvent(kb.Enter))
		tb.until("the message", `document.getElementById('no-access')?.textContent.includes('no access to the management console')`)
		tb.shot("15-no-access")
	})
}
