module.exports = {
  displayName: 'auth-gateway',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
};
