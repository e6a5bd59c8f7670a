// Package browsertest holds the console's end-to-end tests: they start a
// dev-mode rulekeeper on the embedded database and drive Debian's Chromium
// (headless, through the DevTools protocol with chromedp) through the
// console as an administrator would. Without Chromium the tests skip, unless
// CI is set (then they fail). With SCREENSHOTS_DIR set they also save a PNG
// of every screen there (`make screenshots`); a failing test saves one of
// the page it failed on (BROWSER_ARTIFACTS, default the system temp
// directory).
package browsertest
