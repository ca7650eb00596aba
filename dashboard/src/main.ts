/**
 * Registers the dashboard's elements. Guarded, so loading the script twice keeps the first
 * definitions instead of throwing. Behaviour lives in ./internal (unregistered classes).
 */
import { LtiActivityPanel } from './internal/activity-panel.ts';
import { LtiAppDialog } from './internal/app-dialog.ts';
import { LtiAppList } from './internal/app-list.ts';
import { LtiAppPage } from './internal/app-page.ts';
import { LtiConfirmDialog } from './internal/confirm-dialog.ts';
import { LtiCopyField } from './internal/copy-field.ts';
import { LtiDashboard } from './internal/dashboard.ts';
import { LtiLtiPanel } from './internal/lti-panel.ts';
import { LtiMenu } from './internal/menu.ts';
import { LtiRegistrationForm } from './internal/registration-form.ts';
import { LtiSignIn } from './internal/sign-in.ts';

const elements = {
  'lti-activity-panel': LtiActivityPanel,
  'lti-app-dialog': LtiAppDialog,
  'lti-app-list': LtiAppList,
  'lti-app-page': LtiAppPage,
  'lti-confirm-dialog': LtiConfirmDialog,
  'lti-copy-field': LtiCopyField,
  'lti-dashboard': LtiDashboard,
  'lti-lti-panel': LtiLtiPanel,
  'lti-menu': LtiMenu,
  'lti-registration-form': LtiRegistrationForm,
  'lti-sign-in': LtiSignIn,
} as const;

for (const [name, element] of Object.entries(elements)) {
  if (!customElements.get(name)) customElements.define(name, element);
}

type Elements = typeof elements;
declare global {
  interface HTMLElementTagNameMap {
    'lti-activity-panel': InstanceType<Elements['lti-activity-panel']>;
    'lti-app-dialog': InstanceType<Elements['lti-app-dialog']>;
    'lti-app-list': InstanceType<Elements['lti-app-list']>;
    'lti-app-page': InstanceType<Elements['lti-app-page']>;
    'lti-confirm-dialog': InstanceType<Elements['lti-confirm-dialog']>;
    'lti-copy-field': InstanceType<Elements['lti-copy-field']>;
    'lti-dashboard': InstanceType<Elements['lti-dashboard']>;
    'lti-lti-panel': InstanceType<Elements['lti-lti-panel']>;
    'lti-menu': InstanceType<Elements['lti-menu']>;
    'lti-registration-form': InstanceType<Elements['lti-registration-form']>;
    'lti-sign-in': InstanceType<Elements['lti-sign-in']>;
  }
}
