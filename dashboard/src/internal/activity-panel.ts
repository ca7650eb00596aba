import { css, html, LitElement, nothing } from 'lit';
import { ApiError, describeError, type ApiClient } from '../api.ts';
import {
  AppActivityDocument,
  RetryFailedGradeDeliveriesDocument,
  RetryGradeDeliveryDocument,
  type AppActivityQuery,
  type GradeState,
  type GradeStatusFragment,
} from '../generated/graphql.ts';
import { formatTime } from './dom.ts';
import { baseStyles } from './styles.ts';

type Launch = NonNullable<AppActivityQuery['app']>['launches']['edges'][number]['node'];
type Refusal = NonNullable<NonNullable<AppActivityQuery['app']>['launchRefusals']>['edges'][number]['node'];

const STATE_LABEL: Record<GradeState, string> = {
  DELIVERED: 'Delivered',
  PENDING: 'Pending',
  FAILED: 'Failed',
  NOT_GRADABLE: 'Not gradable',
};

/**
 * Launches of an app, newest first, with each one's grade and its delivery to the platform:
 * learner, course, time, completion, delivery state with the last error, Retry for failed ones
 * (and Retry all failed above the list, for the app's every failed grade, shown or not).
 * Below them, the latest refused logins and launches (code, sentence, time, registration).
 */
export class LtiActivityPanel extends LitElement {
  static override properties = {
    client: { attribute: false },
    appId: { type: String },
    launches: { state: true },
    refusals: { state: true },
    next: { state: true },
    loading: { state: true },
    error: { state: true },
    status: { state: true },
    retrying: { state: true },
    failedGrades: { state: true },
    retryingAll: { state: true },
  };

  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
      }
      .bar {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        justify-content: space-between;
        gap: 0.5rem;
        margin-bottom: 0.75rem;
      }
      h2 {
        margin: 0;
        font-size: 1.2rem;
      }
      table {
        width: 100%;
        border-collapse: collapse;
        background: var(--surface);
        border: 1px solid var(--border);
        font-size: 0.925rem;
      }
      th,
      td {
        padding: 0.5rem 0.75rem;
        border-top: 1px solid var(--border);
        text-align: left;
        vertical-align: top;
        overflow-wrap: anywhere;
      }
      thead th {
        border-top: 0;
        background: #f6f8fa;
      }
      .sub {
        display: block;
        color: var(--muted);
        font-size: 0.825rem;
      }
      .state {
        font-weight: 600;
      }
      .state.DELIVERED {
        color: var(--ok);
      }
      .state.FAILED {
        color: var(--danger);
      }
      .state.PENDING,
      .state.NOT_GRADABLE {
        color: #7d4e00;
      }
      .last-error {
        display: block;
        margin-top: 0.25rem;
        font-size: 0.825rem;
        font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
      }
      td button {
        margin-top: 0.35rem;
        min-height: 2rem;
        padding: 0.2rem 0.75rem;
      }
      .more {
        margin-top: 0.75rem;
      }
      .failed-all {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.5rem;
        margin: 0 0 0.75rem;
      }
      h3 {
        margin: 1.5rem 0 0.5rem;
        font-size: 1.05rem;
      }
      .refusals {
        margin: 0;
        padding: 0;
        list-style: none;
        background: var(--surface);
        border: 1px solid var(--border);
        font-size: 0.925rem;
      }
      .refusals li {
        padding: 0.5rem 0.75rem;
        overflow-wrap: anywhere;
      }
      .refusals li + li {
        border-top: 1px solid var(--border);
      }
      .refusals code {
        font-weight: 600;
        color: var(--danger);
      }
      /* Narrow screens: each launch becomes a card with labelled values. */
      @media (max-width: 44rem) {
        table,
        tbody,
        tr,
        td {
          display: block;
        }
        table {
          border: 0;
          background: transparent;
        }
        thead {
          position: absolute;
          width: 1px;
          height: 1px;
          overflow: hidden;
          clip: rect(0 0 0 0);
        }
        tr {
          margin-bottom: 0.75rem;
          border: 1px solid var(--border);
          border-radius: var(--radius);
          background: var(--surface);
        }
        td {
          display: grid;
          grid-template-columns: 7rem 1fr;
          gap: 0.5rem;
          border-top: 0;
        }
        td::before {
          content: attr(data-label);
          font-weight: 600;
        }
      }
    `,
  ];

  declare client: ApiClient | undefined;
  declare appId: string;
  declare launches: Launch[] | undefined;
  declare refusals: Refusal[];
  /** Cursor of the next page, if any. */
  declare next: string | null;
  declare loading: boolean;
  declare error: string;
  declare status: string;
  /** Grade IDs with a retry in flight. */
  declare retrying: ReadonlySet<string>;
  /** The app's FAILED grades, shown or not (`App.failedGradeCount`, read with the first page). */
  declare failedGrades: number;
  declare retryingAll: boolean;

  constructor() {
    super();
    this.appId = '';
    this.launches = undefined;
    this.refusals = [];
    this.next = null;
    this.loading = false;
    this.error = '';
    this.status = '';
    this.retrying = new Set();
    this.failedGrades = 0;
    this.retryingAll = false;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.refresh();
  }

  /** Loads the newest launches again (the first page). */
  async refresh(): Promise<void> {
    await this.#load(null);
    if (!this.error) this.status = `Updated: ${this.launches?.length ?? 0} launches shown.`;
  }

  /**
   * Loads the page after `after` (the first page when null) and adds it to the list, or replaces
   * the list with the first page. With `until`, goes on page by page until that many launches
   * (or all) are read, and shows them at once: reloading what is shown keeps Show more's rows.
   * One load at a time: while one is under way, another is not started.
   */
  #load(after: string | null, until = 0): Promise<void> {
    if (!this.client || !this.appId || this.loading) return Promise.resolve();
    return (this.#loading = this.#read(this.client, after, until));
  }

  /** The last load started (settled once it is over). */
  #loading: Promise<void> = Promise.resolve();

  /**
   * Reloads as many launches as are shown, after a change: a load under way may have read them
   * before the change (its answer would be stale), so this waits for it and loads again.
   */
  async #reloadShown(): Promise<void> {
    while (this.loading) await this.#loading;
    await this.#load(null, this.launches?.length ?? 0);
  }

  async #read(client: ApiClient, after: string | null, until: number): Promise<void> {
    this.loading = true;
    this.error = '';
    try {
      const launches = after ? [...(this.launches ?? [])] : [];
      let cursor = after;
      let next: string | null;
      do {
        const { app }: AppActivityQuery = await client.request(AppActivityDocument, { id: this.appId, after: cursor, more: cursor !== null });
        if (!app) {
          this.error = 'This app no longer exists.';
          this.failedGrades = 0;
          return;
        }
        launches.push(...app.launches.edges.map((e) => e.node));
        next = app.launches.pageInfo.hasNextPage ? app.launches.pageInfo.endCursor : null;
        if (app.launchRefusals) this.refusals = app.launchRefusals.edges.map((e) => e.node);
        if (app.failedGradeCount !== undefined) this.failedGrades = app.failedGradeCount;
        cursor = next;
      } while (cursor && launches.length < until);
      this.launches = launches;
      this.next = next;
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'ERR_UNAUTHENTICATED')) this.error = describeError(error);
    } finally {
      this.loading = false;
    }
  }

  #showMore = async (): Promise<void> => {
    const shown = this.launches?.length ?? 0;
    await this.#load(this.next);
    if ((this.launches?.length ?? 0) <= shown) return;
    // The button may be gone (last page): focus the first launch just shown, where reading goes on.
    await this.updateComplete;
    this.renderRoot.querySelectorAll<HTMLElement>('tbody tr')[shown]?.focus();
  };

  override render() {
    return html`
      <div class="bar">
        <h2 id="activity-title">Launches and grades</h2>
        <button type="button" id="refresh" ?disabled=${this.loading} @click=${() => this.refresh()}>
          ${this.loading ? 'Loading…' : 'Refresh'}
        </button>
      </div>
      <p class="visually-hidden" role="status">${this.status}</p>
      ${this.error ? html`<p class="alert" role="alert">${this.error}</p>` : nothing}
      ${this.failedGrades > 0
        ? html`<p class="failed-all">
            ${this.failedGrades === 1 ? '1 grade delivery failed.' : `${this.failedGrades} grade deliveries failed.`}
            <button type="button" id="retry-all" ?disabled=${this.retryingAll} @click=${this.#retryAll}>
              ${this.retryingAll ? 'Retrying…' : 'Retry all failed'}
            </button>
          </p>`
        : nothing}
      ${this.launches === undefined
        ? this.error
          ? nothing
          : html`<p class="muted">Loading…</p>`
        : this.launches.length === 0
          ? html`<p class="muted">No launches yet. They appear here when learners open the app from a course.</p>`
          : this.#table(this.launches)}
      ${this.next
        ? html`<button class="more" type="button" ?disabled=${this.loading} @click=${this.#showMore}>Show more</button>`
        : nothing}
      ${this.refusals.length > 0 ? this.#refusals(this.refusals) : nothing}
    `;
  }

  #refusals(refusals: Refusal[]) {
    return html`<h3 id="refusals-title">Refused launches</h3>
      <p class="muted">The latest ${refusals.length} (kept 30 days). The code is the one learners see; the server log has the details.</p>
      <ul class="refusals" aria-labelledby="refusals-title">
        ${refusals.map(
          (r) => html`<li>
            <code>${r.code}</code> ${r.reason}
            <span class="sub">
              <time datetime=${r.createdAt}>${formatTime(r.createdAt)}</time> ·
              ${r.route === 'LOGIN' ? 'login' : 'launch'}${r.registration ? html` · ${r.registration.label || r.registration.clientId}` : nothing}
            </span>
          </li>`,
        )}
      </ul>`;
  }

  #table(launches: Launch[]) {
    return html`<table aria-labelledby="activity-title">
      <thead>
        <tr>
          <th scope="col">Learner</th>
          <th scope="col">Course</th>
          <th scope="col">Launched</th>
          <th scope="col">Completed</th>
          <th scope="col">Grade</th>
        </tr>
      </thead>
      <tbody>
        ${launches.map((l) => {
          const person = l.name || [l.givenName, l.familyName].filter(Boolean).join(' ') || l.email;
          return html`<tr tabindex="-1">
            <td data-label="Learner"><div>${person ? html`${person}<span class="sub">${l.subject}</span>` : l.subject}</div></td>
            <td data-label="Course">
              <div>
                ${l.contextTitle || l.contextLabel || l.contextId || html`<span class="muted">(none sent)</span>`}
                ${l.contextId && (l.contextTitle || l.contextLabel) ? html`<span class="sub">${l.contextId}</span>` : nothing}
              </div>
            </td>
            <td data-label="Launched"><div><time datetime=${l.createdAt}>${formatTime(l.createdAt)}</time></div></td>
            <td data-label="Completed">
              <div>
                ${l.completedAt
                  ? html`<time datetime=${l.completedAt}>${formatTime(l.completedAt)}</time>`
                  : html`<span class="muted">Not yet</span>`}
              </div>
            </td>
            <td data-label="Grade">${l.grade ? this.#grade(l.grade, person || l.subject) : html`<div class="muted">None yet</div>`}</td>
          </tr>`;
        })}
      </tbody>
    </table>`;
  }

  #grade(grade: GradeStatusFragment, learner: string) {
    const busy = this.retrying.has(grade.id);
    return html`<div>
      <span class="state ${grade.state}" data-grade-state=${grade.state} data-grade-id=${grade.id} tabindex="-1">${STATE_LABEL[grade.state]}</span>
      <span>${grade.scoreGiven}/${grade.scoreMaximum}</span>
      ${grade.state === 'DELIVERED' && grade.deliveredAt
        ? html`<span class="sub">on <time datetime=${grade.deliveredAt}>${formatTime(grade.deliveredAt)}</time></span>`
        : nothing}
      ${grade.state === 'PENDING' && grade.nextAttemptAt
        ? html`<span class="sub">next attempt <time datetime=${grade.nextAttemptAt}>${formatTime(grade.nextAttemptAt)}</time></span>`
        : nothing}
      ${grade.attempts > 1 || grade.state === 'FAILED' ? html`<span class="sub">${grade.attempts} attempts</span>` : nothing}
      ${grade.lastError && grade.state !== 'DELIVERED' ? html`<span class="last-error">${grade.lastError}</span>` : nothing}
      ${grade.state === 'FAILED'
        ? html`<button type="button" ?disabled=${busy} aria-label="Retry the grade delivery for ${learner}" @click=${() => this.#retry(grade)}>
            ${busy ? 'Retrying…' : 'Retry'}
          </button>`
        : nothing}
    </div>`;
  }

  async #retry(grade: GradeStatusFragment): Promise<void> {
    if (!this.client) return;
    this.retrying = new Set([...this.retrying, grade.id]);
    this.error = '';
    try {
      const { retryGradeDelivery: result } = await this.client.request(RetryGradeDeliveryDocument, { id: grade.id });
      if (result.__typename !== 'GradePayload') {
        // Not failed any more (retried from elsewhere, delivered) or gone: show the list as it is
        // now, as many launches as were shown (not only the first page).
        await this.#reloadShown();
        this.error = result.__typename === 'ValidationError' ? (result.fields[0]?.message ?? result.message) : result.message;
        await this.updateComplete;
        this.renderRoot.querySelector<HTMLElement>(`[data-grade-id="${CSS.escape(grade.id)}"]`)?.focus();
        return;
      }
      const updated = result.grade;
      this.launches = this.launches?.map((l) => (l.grade?.id === updated.id ? { ...l, grade: updated } : l));
      // No reload here: this grade was one of the FAILED ones counted.
      this.failedGrades = Math.max(0, this.failedGrades - 1);
      this.status = `Delivery queued again: ${STATE_LABEL[updated.state]}.`;
      // The Retry button is gone: keep focus on this grade.
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>(`[data-grade-id="${CSS.escape(updated.id)}"]`)?.focus();
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'ERR_UNAUTHENTICATED')) this.error = describeError(error);
    } finally {
      const rest = new Set(this.retrying);
      rest.delete(grade.id);
      this.retrying = rest;
    }
  }

  #retryAll = async (): Promise<void> => {
    if (!this.client || this.retryingAll) return;
    // Where focus goes if the button goes: the first failed grade shown (Pending by then).
    const first = this.launches?.find((l) => l.grade?.state === 'FAILED')?.grade?.id;
    this.retryingAll = true;
    this.error = '';
    try {
      const { retryFailedGradeDeliveries: result } = await this.client.request(RetryFailedGradeDeliveriesDocument, { appId: this.appId });
      // The count now, even if the reload below cannot reach the server (which it then says).
      if (result.__typename === 'RetryFailedGradeDeliveriesPayload') this.failedGrades = result.app.failedGradeCount;
      // Every row as it is now, as many launches as were shown (not only the first page).
      await this.#reloadShown();
      if (result.__typename === 'RetryFailedGradeDeliveriesPayload') {
        const n = result.queued;
        this.status = n === 0 ? 'No failed grade deliveries were left to retry.' : `Queued ${n} ${n === 1 ? 'grade' : 'grades'} for delivery again.`;
      } else if (!this.error) {
        // The reload's "This app no longer exists." says it better than the ID lookup's message.
        this.error = result.message;
      }
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'ERR_UNAUTHENTICATED')) this.error = describeError(error);
    } finally {
      this.retryingAll = false;
    }
    // The button is gone once nothing has failed (and was disabled while it ran, which drops
    // focus): keep focus in the list, not on the page, unless the owner has moved on meanwhile.
    await this.updateComplete;
    const active = document.activeElement;
    if (active && active !== document.body && this.shadowRoot?.activeElement?.id !== 'retry-all') return;
    const target =
      this.renderRoot.querySelector<HTMLElement>('#retry-all') ??
      (first ? this.renderRoot.querySelector<HTMLElement>(`[data-grade-id="${CSS.escape(first)}"]`) : null) ??
      this.renderRoot.querySelector<HTMLElement>('tbody tr');
    target?.focus();
  };
}
