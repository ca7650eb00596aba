/**
 * Events the dashboard's elements dispatch. All bubble and are composed, so a listener on an
 * ancestor hears them from inside any shadow root.
 *
 * This module holds types and one helper; import types with `import type`.
 */
import type { AppSummaryFragment, RegistrationFragment } from './generated/graphql.ts';

export interface SignInDetail {
  /** The API token as typed (trimmed). */
  token: string;
}

export interface MenuSelectDetail {
  /** The chosen item's `value`. */
  value: string;
}

export interface AppSavedDetail {
  app: AppSummaryFragment;
  /** True when the app was just created. */
  created: boolean;
}

export interface RegistrationSavedDetail {
  registration: RegistrationFragment;
  created: boolean;
}

export interface RegistrationsChangedDetail {
  /** The app's registrations as the LTI tab now lists them, after an add, edit or remove. */
  registrations: RegistrationFragment[];
}

export type SignInEvent = CustomEvent<SignInDetail>;
export type MenuSelectEvent = CustomEvent<MenuSelectDetail>;
export type AppSavedEvent = CustomEvent<AppSavedDetail>;
export type RegistrationSavedEvent = CustomEvent<RegistrationSavedDetail>;
export type RegistrationsChangedEvent = CustomEvent<RegistrationsChangedDetail>;

declare global {
  interface HTMLElementEventMap {
    'lti-sign-in': SignInEvent;
    'lti-menu-select': MenuSelectEvent;
    'lti-app-saved': AppSavedEvent;
    'lti-registration-saved': RegistrationSavedEvent;
    'lti-registrations-changed': RegistrationsChangedEvent;
    /** A form was dismissed without saving. */
    'lti-cancel': CustomEvent<undefined>;
  }
}

type DetailOf<K extends keyof HTMLElementEventMap> = HTMLElementEventMap[K] extends CustomEvent<infer D> ? D : never;

/** Dispatches one of the events above from `target`, bubbling and composed. */
export function emit<K extends keyof HTMLElementEventMap>(target: EventTarget, type: K, detail: DetailOf<K>): boolean {
  return target.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true, cancelable: false }));
}
