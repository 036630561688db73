"""What a person's scope lets the operations view's stores answer (beyond ops/'s own tests)."""

from storage.scope import Scope


def test_a_department_manager_needs_a_tenant_filter() -> None:
    hr = Scope.of(departments=["hr"])
    assert not hr.sees_all and not hr.reports_on_all
    assert hr.reports_on("hr") and not hr.reports_on("legal")


def test_an_admin_needs_none() -> None:
    admin = Scope.of(admin=True)
    assert admin.sees_all and admin.reports_on_all


def test_an_analyst_counts_every_department_and_lists_none() -> None:
    analyst = Scope.of(reports=["*"])
    assert analyst.reports_on_all and analyst.reports_on("legal")
    assert not analyst.sees_all and not analyst.sees("legal")
