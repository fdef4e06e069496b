"""Waiting on the web playground in a real browser."""


def wait_until(driver, timeout_s, condition):
    """`WebDriverWait(driver, timeout_s).until(condition)`, retried when the page replaces an element
    between finding it and reading it (a StaleElementReferenceException: the results re-render
    while a slow machine polls them)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, ignored_exceptions=(StaleElementReferenceException,)).until(condition)
