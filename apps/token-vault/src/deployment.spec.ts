// The environment the image, infra/compose.platform.yaml and infra/k8s/token-vault set is one this service accepts.
import { describeDeployedEnv } from '@ais/testing';
import { schema } from './config';

describeDeployedEnv('token-vault', schema);
