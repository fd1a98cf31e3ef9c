"""The pages in German in a real browser: the footer's language switch, a German
browser's Accept-Language, and no serious accessibility problem on German pages."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import DESKTOP, Server, check_page, new_person, sign_up


def test_switch_to_german_and_back(browser: Any, web_server: Server) -> None:
    person = new_person(browser, web_server)  # an English browser (en-US)
    page = person.page
    sign_up(person, "heike@example.com")
    assert page.locator("html").get_attribute("lang") == "en"

    page.get_by_role("navigation", name="Language").get_by_role("link", name="Deutsch").click()
    page.get_by_role("heading", name="Sicherheitsgrundlagen", exact=True).wait_for()
    assert page.url.endswith("/security?welcome=1")  # the same page, its query kept
    assert page.locator("html").get_attribute("lang") == "de"
    assert "Zuletzt verwendet" in page.locator("ul.items li").first.inner_text()
    check_page(page, "security-basics-de")

    page.get_by_role("link", name="Letzte Aktivitäten").first.click()
    page.get_by_role("heading", name="Letzte Aktivitäten").wait_for()
    assert "Konto erstellt" in page.locator("ol.events").inner_text()
    check_page(page, "activity-de")

    page.get_by_role("button", name="Abmelden").click()
    page.get_by_text("Sie sind abgemeldet.").wait_for()
    assert page.locator("html").get_attribute("lang") == "de"  # the choice stays
    check_page(page, "sign-in-de")

    page.get_by_role("navigation", name="Sprache").get_by_role("link", name="English").click()
    page.get_by_role("heading", name="Sign in", exact=True).wait_for()
    assert page.locator("html").get_attribute("lang") == "en"
    person.context.close()


def test_a_german_browser_gets_german_pages(browser: Any, web_server: Server) -> None:
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True, locale="de-DE")
    page = context.new_page()
    page.goto(web_server.url + "/sign-up")
    page.get_by_role("heading", name="Konto erstellen").wait_for()
    assert page.locator("html").get_attribute("lang") == "de"
    page.get_by_label("Kennwort", exact=True).fill("kurz")
    page.get_by_label("E-Mail-Adresse oder Telefonnummer").fill("jonas@example.com")
    page.get_by_role("button", name="Konto erstellen").click()
    alert = page.get_by_role("alert")
    alert.get_by_text("Wählen Sie ein Kennwort mit mindestens 8 Zeichen.").wait_for()
    check_page(page, "sign-up-refused-de")
    context.close()
